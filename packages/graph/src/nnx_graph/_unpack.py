"""nnx.unpack and GraphState: a State that carries its GraphDef (flax 0.12).

``nnx.unpack(model)`` is ``nnx.split`` without a separate GraphDef to carry around:
each State knows the structure it belongs to, so ``nnx.merge(state)`` rebuilds the
model. A GraphState is a pytree like any State; the GraphDef rides along as static data.
"""

from __future__ import annotations

from typing import Any

import jax

from nnx_graph._filters import Filter
from nnx_graph._functional import _check_mode, split
from nnx_graph._graphdef import GraphDef
from nnx_graph._state import State, _state_flatten, _state_flatten_with_keys


class GraphState(State):
    """A State with the GraphDef of the graph it came from (``.graphdef``).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable, merge
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> state = unpack(Box())
    >>> type(merge(state)).__name__, list(state)
    ('Box', ['w'])
    """

    __slots__ = ("graphdef",)
    graphdef: GraphDef

    @classmethod
    def of(cls, graphdef: GraphDef, state: State) -> GraphState:
        new = cls.wrap(state.raw_mapping)
        object.__setattr__(new, "graphdef", graphdef)
        return new  # type: ignore[return-value]


def _flatten_with_keys(state: GraphState) -> tuple[list[Any], tuple[Any, ...]]:
    children, keys = _state_flatten_with_keys(state)
    return children, (keys, state.graphdef)


def _flatten(state: GraphState) -> tuple[list[Any], tuple[Any, ...]]:
    children, keys = _state_flatten(state)
    return children, (keys, state.graphdef)


def _unflatten(aux: tuple[Any, ...], children: Any) -> GraphState:
    keys, graphdef = aux
    mapping = {
        key: child.raw_mapping if isinstance(child, State) else child
        for key, child in zip(keys, children, strict=True)
    }
    return GraphState.of(graphdef, State.wrap(mapping))


jax.tree_util.register_pytree_with_keys(GraphState, _flatten_with_keys, _unflatten, _flatten)


def unpack(node: Any, /, *filters: Filter, graph: bool | None = None) -> Any:
    """``nnx.split(node, *filters)`` with the GraphDef inside each State (a GraphState).

    ``graph=False`` (tree mode) refuses a shared reference, naming both paths.
    """
    _check_mode(node, graph, "nnx.unpack")
    graphdef, *states = split(node, *filters)
    unpacked = tuple(GraphState.of(graphdef, state) for state in states)
    return unpacked[0] if len(unpacked) == 1 else unpacked
