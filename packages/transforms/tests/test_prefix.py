"""nnx.prefix: per-Variable axes from a function or a filter mapping, for nnx.vmap."""

import jax.numpy as jnp
import numpy as np

import nnx_graph as ng
import nnx_transforms as nt
from nnx_variables import BatchStat, Param


class Model(ng.Module):
    def __init__(self):
        self.scale = Param(jnp.array(2.0))
        self.offsets = BatchStat(jnp.arange(4.0))


def test_prefix_from_a_function_maps_the_chosen_variables():
    model = Model()
    axes = nt.prefix(model, lambda path, v: 0 if "offsets" in path else None)
    out = nt.vmap(lambda m: m.scale.value * m.offsets.value, in_axes=(axes,))(model)
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0, 6.0])


def test_prefix_from_a_filter_mapping_is_a_state_axes():
    axes = nt.prefix(Model(), {BatchStat: 0, ...: None})
    assert axes == nt.StateAxes({BatchStat: 0, ...: None})


def test_prefix_of_a_container_is_the_same_container_of_axes():
    d = {"a": Param(jnp.array(2)), "b": BatchStat(jnp.arange(5))}
    assert nt.prefix(d, {BatchStat: 0}) == {"a": None, "b": 0}
    out = nt.vmap(lambda d: d["a"] * d["b"], in_axes=(nt.prefix(d, {BatchStat: 0}),))(d)
    np.testing.assert_array_equal(out, [0, 2, 4, 6, 8])


def test_prefix_takes_graph_and_gives_the_same_axes_in_both_modes():
    model = Model()

    def axis(path, v):
        return 0 if "offsets" in path else None

    assert nt.prefix(model, axis, graph=False) == nt.prefix(model, axis, graph=True)
    out = nt.vmap(
        lambda m: m.scale.value * m.offsets.value,
        in_axes=(nt.prefix(model, axis, graph=False),),
        graph=False,
    )(model)
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0, 6.0])
