"""nnx.to_tree / nnx.from_tree: objects in a pytree as NodeStates and back, sharing kept."""

import jax
import jax.numpy as jnp

import nnx_graph as ng


class Box(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(2))


def test_round_trip_through_a_plain_jax_jit_keeps_sharing_between_objects():
    a, b = Box(), Box()
    b.friend = a  # b reaches a
    tree = {"a": a, "b": b, "x": jnp.zeros(1), "again": a}
    pure = ng.to_tree(tree)
    assert isinstance(pure["a"], ng.NodeStates) and isinstance(pure["b"], ng.NodeStates)
    assert len(jax.tree.leaves(pure)) == 3  # a.w, b.w and x: a's state appears once

    @jax.jit
    def double(pure):
        return jax.tree.map(lambda v: v * 2, pure)

    back = ng.from_tree(double(pure))
    assert back["a"] is back["again"] and back["b"].friend is back["a"]
    assert float(back["a"].w.value[0]) == 2.0 and float(back["x"][0]) == 0.0
    assert float(a.w.value[0]) == 1.0  # the inputs are untouched


def test_a_single_object_and_a_tree_without_objects():
    box = Box()
    pure = ng.to_tree([box])
    assert pure[0].state["w"] is box.w
    assert ng.from_tree(pure)[0].w is box.w  # merge shares the State's Variables
    assert ng.to_tree({"x": 1}) == {"x": 1} and ng.from_tree({"x": 1}) == {"x": 1}
