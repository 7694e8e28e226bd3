"""GraphDef: the static, hashable description of an object graph.

A GraphDef records node types, static attributes, edges, and which nodes are shared: a
node reached twice is defined once, where it is first met in traversal order, and
referred to by index afterwards. It holds no arrays, so it is hashable, compares by
structure, and is a pytree with no leaves, which lets it pass through ``jax.jit`` as
part of the arguments or the result.

Edges are plain tuples tagged by their first element; tuples hash and compare in C,
which is what makes GraphDefs cheap enough to be jit cache keys:

=========================================  ==================================================
``("static", value, type)``                a hashable non-state value (typed: 1 != True)
``("array",)``                             a bare array; its value lives in the State
``("var", index, kind, metadata)``         a Variable's first appearance
``("ref", index)``                         a node or Variable already defined
``("object", index, kind, attributes)``    an Object; ``attributes`` is ``((name, edge), ...)``
``("list", index, items)``                 a list (mutable, so it may be shared)
``("dict", index, items)``                 a dict; ``items`` is ``((key, edge), ...)``
``("tuple", items)``                       a tuple (immutable, never shared by index)
``("pytree", treedef, items)``             any other registered pytree node
``("method", index, function)``            a method bound to node ``index`` of this graph
=========================================  ==================================================

A function in a static edge is wrapped in ``ByValue`` (``_static``), so that equal
closures (a fresh ``optax.adam(1e-3)`` per model) give equal GraphDefs.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import jax

from nnx_graph._paths import Path

Edge = tuple[Any, ...]


class GraphDef:
    """The structure of one or more object graphs, without their values.

    ``GraphDef[Model]`` annotates the GraphDef of a ``Model`` (as in flax).

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module, Variable, split
    >>> class Tiny(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(2))
    >>> graphdef, state = split(Tiny())
    >>> graphdef == split(Tiny())[0], jax.tree.leaves(graphdef)
    (True, [])
    """

    __slots__ = ("_hash", "_leaf_paths", "edges")

    def __class_getitem__(cls, item: Any) -> types.GenericAlias:
        """``GraphDef[Model]`` in annotations, as flax code writes them."""
        return types.GenericAlias(cls, item)

    def __init__(self, edges: tuple[Edge, ...]) -> None:
        self.edges = edges
        self._hash: int | None = None
        self._leaf_paths: list[Path] | None = None

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.edges)
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, GraphDef):
            return NotImplemented
        return hash(self) == hash(other) and self.edges == other.edges

    def leaf_paths(self) -> list[Path]:
        """The path of every state leaf, in the order ``split`` produces them."""
        if self._leaf_paths is None:
            paths: list[Path] = []
            if len(self.edges) == 1:
                _collect_leaf_paths(self.edges[0], (), paths)
            else:
                for i, edge in enumerate(self.edges):
                    _collect_leaf_paths(edge, (i,), paths)
            self._leaf_paths = paths
        return self._leaf_paths

    def node_types(self) -> Iterator[type]:
        """Every Object and Variable type in the graph, in traversal order."""
        for edge in self.edges:
            yield from _types(edge)

    def apply(self, state: Any, *states: Any) -> Any:
        """``nnx.call((graphdef, state))``: call methods of the merged object functionally.

        >>> import jax.numpy as jnp
        >>> from nnx_graph import Module, Variable, split
        >>> class Double(Module):
        ...     def __init__(self):
        ...         self.w = Variable(jnp.array(2.0))
        ...     def __call__(self, x):
        ...         return x * self.w.value
        >>> graphdef, state = split(Double())
        >>> out, (graphdef, state) = graphdef.apply(state)(3.0)
        >>> float(out)
        6.0
        """
        from nnx_graph._calls import call  # the call needs merge/split, built on GraphDef

        return call((self, state, *states))

    def __repr__(self) -> str:
        from nnx_graph._repr import graphdef_repr

        return graphdef_repr(self)


def _children(edge: Edge) -> tuple[tuple[Any, Edge], ...]:
    tag = edge[0]
    if tag == "object" or tag == "dict":
        return edge[-1]  # type: ignore[no-any-return]
    if tag == "list" or tag == "tuple":
        return tuple(enumerate(edge[-1]))
    if tag == "pytree":
        return edge[2]  # type: ignore[no-any-return]
    return ()


def _collect_leaf_paths(edge: Edge, path: Path, out: list[Path]) -> None:
    tag = edge[0]
    if tag == "var" or tag == "array":
        out.append(path)
        return
    for key, child in _children(edge):
        _collect_leaf_paths(child, (*path, key), out)


def _types(edge: Edge) -> Iterator[type]:
    tag = edge[0]
    if tag == "object" or tag == "var":
        yield edge[2]
    for _, child in _children(edge):
        yield from _types(child)


jax.tree_util.register_pytree_node(
    GraphDef,
    lambda g: ((), g),
    lambda g, _: g,  # no leaves: the GraphDef is its own aux data
)
