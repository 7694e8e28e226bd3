"""nnx.unpack's graph= (flax 0.12): tree mode refuses sharing, else unpacks the same."""

import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Tied(ng.Module):
    def __init__(self):
        self.a = ng.Variable(jnp.ones(2))
        self.b = self.a


class Box(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(2))


def test_unpack_in_tree_mode_refuses_a_shared_variable_naming_both_paths():
    with pytest.raises(ValueError, match=r"(?s)nnx\.unpack: tree mode.*model\.a and model\.b"):
        ng.unpack(Tied(), graph=False)
    assert list(ng.unpack(Tied(), graph=True)) == ["a"]


def test_unpack_in_tree_mode_gives_what_graph_mode_gives_for_a_tree():
    box = Box()
    in_tree, in_graph = ng.unpack(box, graph=False), ng.unpack(box)
    assert in_tree.graphdef == in_graph.graphdef and in_tree["w"] is in_graph["w"]
    assert type(ng.merge(in_tree)) is Box
