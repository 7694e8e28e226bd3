"""nnx.iter_children / nnx.iter_module_children: one level of the graph (flax 0.12).

The expected keys and kinds are what flax 0.12.8 printed for the same structures.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Leaf(ng.Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(1))


class Streams(ng.Object):  # an Object that is not a Module, like flax's Rngs
    def __init__(self) -> None:
        self.count = ng.Variable(jnp.zeros((), jnp.uint32))


class Block(ng.Module):
    def __init__(self) -> None:
        self.z_linear = Leaf()
        self.sub = Leaf()
        self.w = Param(jnp.ones(2))
        self.arr = jnp.zeros(3)
        self.n = 3
        self.name = "x"
        self.layers = ng.List([Leaf(), 5])
        self.d = ng.Dict({"a": Leaf()})
        self.streams = Streams()
        self.shared = self.z_linear
        self.plain = [Leaf()]
        self.none = None


def kinds(pairs: Any) -> list[tuple[Any, str]]:
    return [(key, type(child).__name__) for key, child in pairs]


@pytest.mark.parametrize("graph", [True, False])
def test_children_are_the_objects_and_variables_held_directly_in_key_order(graph: bool) -> None:
    block = Block()
    # flax 0.12.8, both modes: d Dict, dropout Dropout, layers List, rngs Rngs,
    # shared Linear, sub SubModule, w Param, z_linear Linear (arrays, ints, strings and
    # plain containers are not children)
    assert kinds(ng.iter_children(block, graph=graph)) == [
        ("d", "Dict"),
        ("layers", "List"),
        ("shared", "Leaf"),
        ("streams", "Streams"),
        ("sub", "Leaf"),
        ("w", "Param"),
        ("z_linear", "Leaf"),
    ]
    children = dict(ng.iter_children(block, graph=graph))
    assert children["shared"] is children["z_linear"] is block.z_linear
    assert children["w"] is block.w


@pytest.mark.parametrize("graph", [True, False])
def test_module_children_are_the_objects_without_the_variables(graph: bool) -> None:
    # flax 0.12.8 lists every graph node that is not a Variable (Rngs, nnx.List too)
    assert kinds(ng.iter_module_children(Block(), graph=graph)) == [
        ("d", "Dict"),
        ("layers", "List"),
        ("shared", "Leaf"),
        ("streams", "Streams"),
        ("sub", "Leaf"),
        ("z_linear", "Leaf"),
    ]
    assert list(ng.iter_module_children(Leaf(), graph=graph)) == []
    assert kinds(ng.iter_children(Leaf(), graph=graph)) == [("w", "Param")]


@pytest.mark.parametrize("graph", [True, False])
def test_containers_list_their_entries(graph: bool) -> None:
    # flax 0.12.8: [(0, 'Linear'), (1, 'Param')] / [('a', 'Linear'), ('b', 'Param')]
    assert kinds(ng.iter_children([Leaf(), Param(1.0), 3], graph=graph)) == [
        (0, "Leaf"),
        (1, "Param"),
    ]
    assert kinds(ng.iter_module_children([Leaf(), Param(1.0), 3], graph=graph)) == [(0, "Leaf")]
    assert kinds(ng.iter_children({"b": Param(1.0), "a": Leaf()}, graph=graph)) == [
        ("a", "Leaf"),
        ("b", "Param"),
    ]
    assert kinds(ng.iter_children((Param(1.0),), graph=graph)) == [(0, "Param")]
    assert kinds(ng.iter_children(ng.List([Param(2.0), 1]), graph=graph)) == [(0, "Param")]
    assert [key for key, _ in ng.iter_children(ng.List([Param(1.0)] * 12), graph=graph)] == list(
        range(12)
    )
    for empty in (None, {}, [], ()):
        assert list(ng.iter_children(empty, graph=graph)) == []
    # nested containers are not children: {'a': [Param]} has none
    assert list(ng.iter_children({"a": [Param(1.0)]}, graph=graph)) == []


@pytest.mark.parametrize("graph", [True, False])
def test_states_and_named_tuples_list_their_entries(graph: bool) -> None:
    _, state = ng.split(Leaf())
    assert kinds(ng.iter_children(state, graph=graph)) == [("w", "Param")]

    class Pair(NamedTuple):
        a: Any
        b: Any

    assert kinds(ng.iter_children(Pair(Param(1.0), Leaf()), graph=graph)) == [
        ("a", "Param"),
        ("b", "Leaf"),
    ]


def test_a_dict_whose_keys_do_not_sort_keeps_its_order() -> None:
    assert [key for key, _ in ng.iter_children({"a": Param(1.0), 0: Leaf()})] == ["a", 0]


def test_a_ref_is_a_child() -> None:
    ref = jax.new_ref(jnp.ones(2))
    assert kinds(ng.iter_children([ref, 1])) == [(0, "Ref")]  # flax 0.12.8: [(0, 'Ref')]


@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize(
    ("node", "shown"),
    [
        (Param(1.0), "got Param"),
        (jnp.ones(1), r"got Array\(shape=\(1,\), dtype=float32\)"),
        (3, "got 3"),
        ("str", "got 'str'"),
    ],
)
def test_a_leaf_has_no_children_and_says_so_when_iterated(
    graph: bool, node: Any, shown: str
) -> None:
    for function in (ng.iter_children, ng.iter_module_children):
        children = function(node, graph=graph)  # a generator: raises when iterated, as flax
        with pytest.raises(ng.GraphError, match=rf"nnx\.{function.__name__} expected a graph "):
            next(children)
        with pytest.raises(ValueError, match=shown):
            list(function(node, graph=graph))


def test_a_variable_root_is_told_how_to_read_its_value() -> None:
    with pytest.raises(ValueError, match=r"a Variable is a leaf of the graph: its value is"):
        list(ng.iter_children(Param(1.0)))


def test_tree_mode_lists_a_shared_child_under_both_keys_as_flax_does() -> None:
    block = Block()
    with ng.set_graph_mode(False):
        keys = [key for key, child in ng.iter_children(block) if child is block.z_linear]
    assert keys == ["shared", "z_linear"]
