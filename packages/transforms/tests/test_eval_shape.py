"""nnx.get_abstract_model: a model's GraphDef and its State as sharded shapes, as Flax NNX 0.12."""

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

import nnx_graph as ng
from nnx_transforms import eval_shape, get_abstract_model
from nnx_variables import Param, with_partitioning

needs_2 = pytest.mark.skipif(jax.device_count() < 2, reason="needs 2 (simulated) devices")


class Linear(ng.Module):
    """flax's Linear(2, 4, kernel_metadata={'out_sharding': (None, 'a')}), in miniature."""

    def __init__(self) -> None:
        self.kernel = Param(jnp.ones((2, 4)), out_sharding=(None, "a"))
        self.bias = Param(jnp.zeros(4))


def test_every_leaf_is_a_shape_with_its_sharding_on_the_mesh():
    mesh = jax.make_mesh((1,), ("a",), axis_types=(jax.sharding.AxisType.Auto,))
    graphdef, state = get_abstract_model(Linear, mesh)
    assert graphdef == ng.graphdef(eval_shape(Linear))
    kernel, bias = state["kernel"].value, state["bias"].value
    assert isinstance(kernel, jax.ShapeDtypeStruct) and kernel.shape == (2, 4)
    # Flax NNX 0.12.8 printed the same specs: P(None, 'a') and P().
    assert kernel.sharding == NamedSharding(mesh, PartitionSpec(None, "a"))
    assert bias.sharding == NamedSharding(mesh, PartitionSpec())
    assert state["kernel"].get_metadata()["out_sharding"] == (None, "a")


@needs_2
def test_the_model_is_never_allocated_and_merges_into_an_abstract_model():
    mesh = jax.make_mesh((2,), ("a",), axis_types=(jax.sharding.AxisType.Auto,))

    class Big(ng.Module):
        def __init__(self) -> None:
            init = with_partitioning(jax.nn.initializers.ones, ("a", None))
            self.w = Param(init(jax.random.key(0), (4096, 4096)))

    graphdef, state = get_abstract_model(Big, mesh)
    assert state["w"].value.sharding.spec == PartitionSpec("a", None)
    assert ng.merge(graphdef, state).w.value.shape == (4096, 4096)
