"""Logical axis names on Variables: get_partition_spec and eager placement follow rules."""

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import PartitionSpec

import nnx_graph as ng
from nnx_variables import (
    Param,
    get_named_sharding,
    get_partition_spec,
    logical_axis_rules,
    with_partitioning,
)

RULES = (("batch", "data"), ("embed", None), ("mlp", "model"))
KEY = jax.random.key(0)
needs_8_devices = pytest.mark.skipif(
    len(jax.devices()) < 8,
    reason="needs 8 devices: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


def normal(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype)


def logical_param(**metadata):
    init = with_partitioning(normal, ("embed", "mlp"), **metadata)
    return Param(init(KEY, (4, 8)), eager_sharding=False)


def test_names_are_recorded_as_given():
    assert logical_param().out_sharding == ("embed", "mlp")


def test_get_partition_spec_maps_by_context_rules():
    state = ng.State({"w": logical_param()})
    assert get_partition_spec(state)["w"].value == PartitionSpec("embed", "mlp")
    with logical_axis_rules(RULES):
        assert get_partition_spec(state)["w"].value == PartitionSpec(None, "model")


def test_get_partition_spec_maps_by_the_variables_own_rules():
    state = ng.State({"w": logical_param(sharding_rules=RULES)})
    assert state["w"].sharding_rules == RULES
    assert get_partition_spec(state)["w"].value == PartitionSpec(None, "model")


def test_conflicting_rules_are_an_error_naming_the_axis():
    state = ng.State({"w": logical_param(sharding_rules=RULES)})
    with (
        logical_axis_rules([("mlp", "data")]),
        pytest.raises(ValueError, match=r"(?s)get_partition_spec.*'mlp'.*Fix: drop"),
    ):
        get_partition_spec(state)


@needs_8_devices
def test_get_named_sharding_checks_the_mapped_names_against_the_mesh():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    state = ng.State({"w": logical_param()})
    with logical_axis_rules(RULES):
        assert get_named_sharding(state, mesh)["w"].value.spec == PartitionSpec(None, "model")
    pattern = r"(?s)state.w:.*mesh has no axis 'embed'.*logical_axis_rules"
    with pytest.raises(ValueError, match=pattern):
        get_named_sharding(state, mesh)


@needs_8_devices
def test_eager_placement_follows_the_rules():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    init = with_partitioning(normal, ("embed", "mlp"))
    with jax.set_mesh(mesh), logical_axis_rules(RULES):
        w = Param(init(KEY, (4, 8)))
    assert w.value.sharding.spec == PartitionSpec(None, "model")
    assert {s.data.shape for s in w.value.addressable_shards} == {(4, 2)}


@needs_8_devices
def test_eager_placement_inside_jit_follows_the_rules():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    init = with_partitioning(normal, ("mlp", "embed"), sharding_rules=RULES)

    @jax.jit
    def create():
        return Param(init(KEY, (8, 4))).value

    with jax.set_mesh(mesh):
        value = create()
    assert value.sharding.spec == PartitionSpec("model", None)


@needs_8_devices
def test_with_partitioning_accepts_logical_names_with_a_mesh():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    init = with_partitioning(normal, ("embed", "mlp"), mesh=mesh, sharding_rules=RULES)
    assert Param(init(KEY, (4, 8))).value.sharding.spec == PartitionSpec(None, "model")
