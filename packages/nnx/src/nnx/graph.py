"""``nnx.graph``: the names flax code reaches for in ``flax.nnx.graph``, over ours.

flax 0.12's ``nnx.graph`` re-exports its ``graphlib``; this module holds the names of both
that ``nnx`` has (the same objects as ``nnx.split``, ``nnx.GraphDef``, ...), and
``nnx.graphlib`` re-exports it. ``flatten`` / ``unflatten`` are ``split`` / ``merge`` with
the state as ``(path, leaf)`` pairs (or bare leaves); ``RefMap`` is a mapping keyed by
object identity, for code that tracks which objects it has seen.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from nnx_graph import (
    CallableProxy,
    FlatState,
    GraphDef,
    GraphState,
    MergeContext,
    Object,
    PureState,
    SplitContext,
    State,
    UpdateContext,
    Variable,
    VariableState,
    as_pure,
    call,
    clone,
    current_update_context,
    find_duplicates,
    graphdef,
    iter_children,
    iter_graph,
    iter_module_children,
    map,
    map_state,
    merge,
    merge_context,
    pop,
    pure,
    recursive_map,
    set_graph_mode,
    set_graph_updates,
    set_metadata,
    split,
    split_context,
    state,
    unpack,
    update,
    update_context,
    vars_as,
    with_vars,
)
from nnx_transforms import cached_partial

variables = state  # flax's other name for it

__all__ = [
    "CallableProxy",
    "FlatState",
    "GraphDef",
    "GraphState",
    "MergeContext",
    "Object",
    "PureState",
    "RefMap",
    "SplitContext",
    "State",
    "UpdateContext",
    "Variable",
    "VariableState",
    "as_pure",
    "cached_partial",
    "call",
    "clone",
    "current_update_context",
    "find_duplicates",
    "flatten",
    "graphdef",
    "iter_children",
    "iter_graph",
    "iter_module_children",
    "map",
    "map_state",
    "merge",
    "merge_context",
    "pop",
    "pure",
    "recursive_map",
    "set_graph_mode",
    "set_graph_updates",
    "set_metadata",
    "split",
    "split_context",
    "state",
    "unflatten",
    "unpack",
    "update",
    "update_context",
    "variables",
    "vars_as",
    "with_vars",
]


def flatten(
    node: Any, /, *, with_paths: bool = True, graph: bool | None = None
) -> tuple[GraphDef, Any]:
    """``(graphdef, FlatState)`` of ``node`` (``with_paths=False``: the list of leaves).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> graphdef, flat = flatten(Box())
    >>> flat.paths
    (('w',),)
    """
    graphdef_, state = split(node, graph=graph)  # graph=False refuses sharing, by path
    flat = state.flat_state()
    return graphdef_, flat if with_paths else list(flat.leaves)


def unflatten(
    graph: GraphDef,
    state: Any,
    /,
    *,
    copy_variables: bool = False,
    recreate_variables: bool = True,
) -> Any:
    """The node ``flatten`` took apart (from a State, a FlatState or a list of leaves).

    As in flax 0.12, the node shares the Variables it is given unless
    ``copy_variables=True``, and ``recreate_variables=False`` leaves a raw array given
    where the GraphDef has a Variable as the raw array.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> type(unflatten(*flatten(Box(), with_paths=False))).__name__
    'Box'
    """
    if isinstance(state, list):
        state = State.from_flat_path(dict(zip(graph.leaf_paths(), state, strict=True)))
    return merge(graph, state, copy=copy_variables, recreate_variables=recreate_variables)


class RefMap(MutableMapping[Any, Any]):
    """A mapping keyed by object identity (unhashable and equal-comparing keys welcome).

    >>> a, b = [1], [1]
    >>> refs = RefMap()
    >>> refs[a] = 'a'
    >>> a in refs, b in refs, len(refs)
    (True, False, 1)
    """

    def __init__(self, items: Any = ()) -> None:
        self._entries: dict[int, tuple[Any, Any]] = {}
        for key, value in items.items() if isinstance(items, MutableMapping) else items:
            self[key] = value

    def __getitem__(self, key: Any) -> Any:
        return self._entries[id(key)][1]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._entries[id(key)] = (key, value)  # the key is held, so its id stays its own

    def __delitem__(self, key: Any) -> None:
        del self._entries[id(key)]

    def __contains__(self, key: object) -> bool:
        return id(key) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return (key for key, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"RefMap({[(k, v) for k, v in self._entries.values()]!r})"
