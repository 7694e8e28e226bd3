"""flax's nnx.spmd names: with_sharding_constraint, add_axis / remove_axis on a tree."""

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

import nnx_graph as ng
import nnx_transforms as nt
from nnx_variables import Param

needs_8 = pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")


def test_without_a_mesh_the_constraint_is_a_no_op():
    x = jnp.ones((8, 4))
    assert nt.with_sharding_constraint(x, ("data", None)) is x
    assert nt.with_sharding_constraint(x, None) is x


@needs_8
def test_with_a_mesh_the_values_are_constrained():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))

    @jax.jit
    def f(x):
        return nt.with_sharding_constraint({"a": x * 2}, {"a": ("data", None)}, mesh=mesh)

    out = f(jnp.ones((8, 4)))["a"]
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, PartitionSpec("data", None)), 2)


def test_add_and_remove_axis_edit_every_variable_of_a_tree():
    class Block(ng.Module):
        def __init__(self):
            self.w = Param(jnp.ones((3, 2)), sharding=("in", "out"))

    state = ng.state(Block())
    nt.add_axis(state, 0, {nt.PARTITION_NAME: "layers"})
    assert state["w"].get_metadata()["out_sharding"] == ("layers", "in", "out")
    nt.remove_axis(state, 0, {nt.PARTITION_NAME: "layers"})
    assert state["w"].get_metadata()["out_sharding"] == ("in", "out")
    with pytest.raises(ValueError, match="not named 'layers'"):
        nt.remove_axis(state, 0, {nt.PARTITION_NAME: "layers"})
