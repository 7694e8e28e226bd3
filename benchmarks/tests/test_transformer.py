"""The transformer variants build the same model and compute the same numbers."""

from __future__ import annotations

import jax
import numpy as np

from benchmarks import transformer, workloads_flax, workloads_jax_transformer, workloads_nnx

CFG = transformer.SMOKE


def shapes(tree):
    return sorted(np.shape(leaf) for leaf in jax.tree.leaves(tree))


def test_pure_jax_and_flax_have_our_parameter_shapes():
    from flax import nnx as fnnx

    import nnx

    ours = nnx.state(workloads_nnx.Transformer(CFG, rngs=nnx.Rngs(0)), nnx.Param)
    flax = fnnx.state(workloads_flax.Transformer(CFG, rngs=fnnx.Rngs(0)), fnnx.Param)
    assert shapes(ours) == shapes(workloads_jax_transformer.init_params(CFG)) == shapes(flax)


def test_pure_jax_trains_and_decodes_as_ours_from_our_numbers():
    import nnx

    params = nnx.state(workloads_nnx.Transformer(CFG, rngs=nnx.Rngs(0))).to_pure_dict()
    ours, base = (
        workloads_nnx.transformer_train("smoke"),
        workloads_jax_transformer.transformer_train("smoke", params=params),
    )
    for _ in range(3):
        np.testing.assert_allclose(ours.step(), base.step(), rtol=1e-5)
    ours_decode = workloads_nnx.transformer_decode("smoke")
    base_decode = workloads_jax_transformer.transformer_decode("smoke", params=params)
    assert int(ours_decode.step()) == int(base_decode.step())
    assert int(ours_decode.step()) == int(base_decode.step())  # the caches are reset


def test_flax_trains_from_the_same_loss():
    ours = workloads_nnx.transformer_train("smoke")
    flax = workloads_flax.transformer_train("smoke")
    np.testing.assert_allclose(ours.step(), flax.step(), rtol=1e-5)


def test_flax_cached_partial_trains_as_flax_jit():
    plain = workloads_flax.transformer_train("smoke")
    cached = workloads_flax.transformer_train_cached("smoke")
    for _ in range(2):
        np.testing.assert_allclose(plain.step(), cached.step(), rtol=1e-6)
