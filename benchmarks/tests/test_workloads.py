"""Every variant builds the same workload: same shapes, same math, a working step."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import variants, workloads_equinox, workloads_flax, workloads_jax

DEPTH = 3


def n_scalars(tree) -> int:
    return sum(math.prod(np.shape(leaf)) for leaf in jax.tree.leaves(tree))


def expected_counts(depth: int) -> tuple[int, int]:
    state = workloads_jax.init_state(depth)
    return n_scalars(state["params"]), n_scalars(state["batch_stats"])


def test_flax_model_has_the_pure_jax_shapes():
    from flax import nnx

    model, _ = workloads_flax.build(DEPTH)
    params = nnx.state(model, nnx.Param)
    stats = nnx.state(model, nnx.BatchStat)
    assert (n_scalars(params), n_scalars(stats)) == expected_counts(DEPTH)


def test_equinox_model_has_the_pure_jax_shapes():
    import equinox as eqx

    model, state, _, _ = workloads_equinox.build(DEPTH)
    params = eqx.filter(model, eqx.is_inexact_array)
    # mode="batch" keeps a step counter beside each BatchNorm's running mean and var.
    stats = [leaf for leaf in jax.tree.leaves(state) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    assert (n_scalars(params), n_scalars(stats)) == expected_counts(DEPTH)


def test_nnx_model_has_the_pure_jax_shapes():
    try:
        import nnx
        from benchmarks import workloads_nnx

        model, _ = workloads_nnx.build(DEPTH)
    except (ImportError, AttributeError) as error:
        pytest.skip(f"nnx cannot build the benchmark MLP yet: {variants.reason(error)}")
    params = nnx.state(model, nnx.Param)
    stats = nnx.state(model, nnx.BatchStat)
    assert (n_scalars(params), n_scalars(stats)) == expected_counts(DEPTH)


def test_pure_jax_step_computes_what_flax_computes():
    """Started from flax's numbers and dropout stream, the baseline's losses match flax's."""
    from flax import nnx

    model, optimizer = workloads_flax.build(DEPTH)
    state = workloads_jax.init_state(DEPTH)
    for params, linear in zip(state["params"], model.linears, strict=True):
        params["kernel"] = linear.kernel[...]
    state["opt_state"] = workloads_jax.TX.init(state["params"])
    state["rng"] = {"key": model.dropout.rngs.key[...], "count": model.dropout.rngs.count[...]}
    x, y = workloads_jax.batch()
    flax_step = nnx.jit(workloads_flax.loss_and_update)
    jax_step = jax.jit(workloads_jax.train_step)
    for _ in range(3):
        jax_loss, state = jax_step(state, x, y)
        flax_loss = flax_step(model, optimizer, x, y)
        np.testing.assert_allclose(jax_loss, flax_loss, rtol=1e-5)
    np.testing.assert_allclose(state["batch_stats"][1]["var"], model.norms[1].var[...], rtol=1e-5)


def test_pure_jax_step_computes_what_nnx_computes():
    """Same seed, same key draws (see workloads_jax.init_state): the same losses as ours."""
    case, why = variants.build_warm(variants.TRAIN[variants.OURS], DEPTH)
    if case is None:
        pytest.skip(f"nnx cannot run the benchmark step yet: {why}")
    baseline = workloads_jax.train(DEPTH)
    baseline.run(2)  # build_warm ran ours twice and once more
    ours = [float(case.step()) for _ in range(3)]
    np.testing.assert_allclose([float(baseline.step()) for _ in range(4)][1:], ours, rtol=1e-5)


@pytest.mark.parametrize("workload", sorted(variants.WORKLOADS))
@pytest.mark.parametrize("label", sorted(variants.TRAIN))
def test_every_variant_runs_or_says_why_not(workload, label):
    case, why = variants.build_warm(variants.WORKLOADS[workload][label], 2)
    if label == variants.OURS and case is None:
        pytest.skip(f"nnx is not complete yet: {why}")
    assert why is None
    assert case is not None
    case.run(2)
