"""The sharded transformer variants train the same numbers on the same shardings."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import nnx
from benchmarks import workloads_sharded

pytestmark = pytest.mark.skipif(
    len(jax.devices()) < 4,
    reason="needs 4 devices: run with XLA_FLAGS=--xla_force_host_platform_device_count=8",
)


def test_nnx_and_pure_jax_give_the_same_losses_with_the_same_shardings():
    ours = workloads_sharded.sharded_train("smoke")
    base = workloads_sharded.sharded_train_jax("smoke")
    functional = workloads_sharded.sharded_train_functional("smoke")
    for _ in range(3):
        loss = ours.step()
        np.testing.assert_allclose(loss, base.step(), rtol=1e-5)
        np.testing.assert_allclose(loss, functional.step(), rtol=1e-6)
    ours_params, base_params = jax.tree.leaves(ours.sync()), jax.tree.leaves(base.sync())
    assert len(ours_params) == len(base_params)
    for a, b in zip(ours_params, base_params, strict=True):
        assert a.sharding == b.sharding


def test_every_parameter_is_born_on_the_shards_its_logical_names_give():
    optimizer, ids, _, mesh = workloads_sharded.build("smoke")
    assert ids.sharding.spec == jax.P("data", None)
    with nnx.logical_axis_rules(workloads_sharded.RULES):
        specs = nnx.get_partition_spec(nnx.state(optimizer))
    for (path, variable), (_, spec) in zip(
        nnx.to_flat_state(nnx.state(optimizer)), nnx.to_flat_state(specs), strict=True
    ):
        value = variable.value
        expected = jax.sharding.NamedSharding(mesh, spec.value)
        assert value.sharding.is_equivalent_to(expected, value.ndim), path
    kernel = optimizer.model.blocks[0].up.kernel.value
    assert kernel.sharding.spec == jax.P("data", "model")  # ('embed', 'mlp') by RULES
