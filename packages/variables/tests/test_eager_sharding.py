"""Eager sharding (flax 0.12): ``out_sharding`` metadata places a Variable's value."""

import pickle

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import nnx_graph as ng
from nnx_variables import (
    Param,
    get_partition_spec,
    use_eager_sharding,
    using_eager_sharding,
    with_partitioning,
)

pytestmark = pytest.mark.skipif(
    len(jax.devices()) < 8,
    reason="needs 8 devices: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


def mesh_2x4(axis_type=AxisType.Explicit):
    return jax.make_mesh((2, 4), ("a", "b"), axis_types=(axis_type, axis_type))


def is_placed(v, spec, mesh):
    return v.value.sharding == NamedSharding(mesh, spec) and len(v.value.devices()) == 8


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto])
@pytest.mark.parametrize("keyword", ["out_sharding", "sharding", "sharding_names"])
def test_out_sharding_and_a_mesh_place_the_value_and_are_stored_as_out_sharding(keyword, axis_type):
    mesh = mesh_2x4(axis_type)
    v = Param(jnp.ones((4, 8)), **{keyword: ("a", None)}, mesh=mesh)
    assert v.get_metadata() == {"out_sharding": ("a", None), "mesh": mesh}
    assert v.out_sharding == ("a", None)
    assert is_placed(v, PartitionSpec("a", None), mesh)
    assert v.sharding == NamedSharding(mesh, PartitionSpec("a", None))


def test_the_mesh_may_come_from_jax_set_mesh():
    mesh = mesh_2x4()
    with jax.set_mesh(mesh):
        v = Param(jnp.ones((4, 8)), out_sharding=("a", "b"))
    assert v.get_metadata() == {"out_sharding": ("a", "b")}
    assert v.sharding.spec == PartitionSpec("a", "b") and len(v.value.devices()) == 8


def test_without_any_mesh_only_the_metadata_is_recorded():
    # flax 0.12 raises here; 0.10 records the names for get_named_sharding (a meaning
    # beats an error).
    v = Param(jnp.ones((4, 8)), out_sharding=("a", None))
    assert v.out_sharding == ("a", None)
    assert len(v.value.devices()) == 1


def test_use_eager_sharding_false_records_without_placing_in_its_three_forms():
    mesh = mesh_2x4()
    assert using_eager_sharding()
    with use_eager_sharding(False):
        assert not using_eager_sharding()
        v = Param(jnp.ones((4, 8)), out_sharding=("a", None), mesh=mesh)
    assert using_eager_sharding()
    assert v.out_sharding == ("a", None) and len(v.value.devices()) == 1

    @use_eager_sharding(False)
    def build():
        return Param(jnp.ones((4, 8)), out_sharding=("a", None), mesh=mesh)

    assert len(build().value.devices()) == 1 and using_eager_sharding()
    use_eager_sharding(False)
    try:
        assert len(Param(jnp.ones(4), out_sharding=("a",), mesh=mesh).value.devices()) == 1
    finally:
        use_eager_sharding(True)
    assert using_eager_sharding()


def test_eager_sharding_keyword_decides_for_one_variable():
    mesh = mesh_2x4()
    off = Param(jnp.ones((4, 8)), out_sharding=("a", None), mesh=mesh, eager_sharding=False)
    assert len(off.value.devices()) == 1
    assert off.get_metadata()["eager_sharding"] is False
    with use_eager_sharding(False):
        on = Param(jnp.ones((4, 8)), out_sharding=("a", None), mesh=mesh, eager_sharding=True)
    assert is_placed(on, PartitionSpec("a", None), mesh)


def test_with_partitioning_records_out_sharding_and_get_partition_spec_reads_it():
    mesh = mesh_2x4()
    init = with_partitioning(jax.nn.initializers.ones, ("a", None), mesh=mesh)
    v = Param(init(jax.random.key(0), (4, 8)))
    assert v.get_metadata() == {"out_sharding": ("a", None), "mesh": mesh}
    assert is_placed(v, PartitionSpec("a", None), mesh)
    specs = get_partition_spec(ng.State({"w": v}))
    assert specs["w"].value == PartitionSpec("a", None)


def test_old_pickles_and_states_holding_sharding_read_as_out_sharding():
    # A Variable pickled by an earlier nnx holds its names under ``sharding``.
    rebuild, (kind, value, _) = Param(jnp.ones((4, 8))).__reduce__()
    old = pickle.dumps((rebuild, (kind, value, {"sharding": ("a", None)})))
    rebuild, args = pickle.loads(old)
    v = rebuild(*args)
    assert v.get_metadata() == {"out_sharding": ("a", None)}
    assert isinstance(v.sharding, jax.sharding.Sharding)
    state = ng.State({"w": Param.from_metadata(jnp.ones(2), {"sharding": ("b",)})})
    assert get_partition_spec(state)["w"].value == PartitionSpec("b")


def test_set_metadata_and_attribute_writes_of_sharding_go_to_out_sharding():
    v = Param(jnp.ones((4, 8)))
    v.set_metadata(sharding=("a", None))
    assert v.get_metadata() == {"out_sharding": ("a", None)}
    v.set_metadata("sharding_names", ("b", None))
    assert v.out_sharding == ("b", None)
    v.sharding = (None, "a")
    assert v.get_metadata() == {"out_sharding": (None, "a")}


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto])
def test_a_variable_built_inside_jit_is_constrained(axis_type):
    mesh = mesh_2x4(axis_type)

    @jax.jit
    def build(x):
        return Param(x, out_sharding=("a", "b"), mesh=mesh).value

    with jax.set_mesh(mesh):  # jit of Explicit axes needs the mesh in context
        y = build(jnp.ones((4, 8)))
    assert y.sharding == NamedSharding(mesh, PartitionSpec("a", "b"))


def test_inside_jit_the_mesh_comes_from_the_context_and_without_one_nothing_is_placed():
    def build(x):
        return Param(x, out_sharding=("a", "b")).value

    assert len(jax.jit(build)(jnp.ones((4, 8))).devices()) == 1
    mesh = mesh_2x4()
    with jax.set_mesh(mesh):
        y = jax.jit(build)(jnp.ones((4, 8)))
    assert y.sharding == NamedSharding(mesh, PartitionSpec("a", "b"))


def test_a_context_mesh_without_the_named_axes_only_records_them():
    # A transform's mesh (shard_map, pmap) need not have the axes the model names.
    with jax.set_mesh(jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))):
        v = Param(jnp.ones((4, 8)), out_sharding=("a", None))
    assert v.out_sharding == ("a", None) and v.value.sharding.is_fully_replicated
    with pytest.raises(ValueError, match=r"(?s)cannot place.*Fix: Param\(value, .*eager_sharding"):
        Param(jnp.ones((4, 8)), out_sharding=("c", None), mesh=mesh_2x4())
