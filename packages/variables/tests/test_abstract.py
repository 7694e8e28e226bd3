"""nnx.as_abstract: abstract Variables get the NamedSharding their metadata names."""

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from nnx_graph import Module
from nnx_variables import Param, as_abstract

needs_8 = pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")


class Abstract(Module):
    def __init__(self, mesh=None):
        extra = {"mesh": mesh} if mesh is not None else {}
        self.kernel = Param(jax.ShapeDtypeStruct((4, 8), jnp.float32), sharding=("a", "b"), **extra)
        self.bias = Param(jax.ShapeDtypeStruct((8,), jnp.float32))


@needs_8
def test_shardings_come_from_the_metadata_and_the_mesh_in_context():
    mesh = jax.make_mesh((2, 4), ("a", "b"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    model = Abstract()
    with jax.sharding.set_mesh(mesh):
        abstract = as_abstract(model)
    kernel, bias = abstract.kernel.get_value(), abstract.bias.get_value()
    assert kernel.sharding.spec == PartitionSpec("a", "b") and bias.sharding.spec == PartitionSpec()
    assert model.kernel.get_value().sharding is None  # a copy: the input is unchanged


@needs_8
def test_a_mesh_in_the_metadata_is_used_without_a_context_and_none_means_unchanged():
    mesh = jax.make_mesh((2, 4), ("a", "b"))
    abstract = as_abstract(Abstract(mesh))
    assert abstract.kernel.get_value().sharding == NamedSharding(mesh, PartitionSpec("a", "b"))
    assert abstract.bias.get_value().sharding is None  # no mesh known for it


def test_abstract_with_sharding_is_the_deprecated_name_of_as_abstract():
    from nnx_variables import abstract_with_sharding

    mesh = jax.make_mesh((1, 1), ("a", "b"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    model = Abstract(mesh)
    with pytest.warns(DeprecationWarning, match="use nnx.as_abstract"):
        abstract = abstract_with_sharding(model)
    assert abstract.kernel.get_value().sharding.spec == PartitionSpec("a", "b")


def test_tree_mode_refuses_a_shared_variable():
    model = Abstract()
    model.twin = model.kernel
    with pytest.raises(ValueError, match=r"tree\.kernel and tree\.twin"):
        as_abstract(model, graph=False)
    as_abstract(model)  # graph mode keeps the sharing
