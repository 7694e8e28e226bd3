"""What one ``nnx.scan`` call structure looks like: static, built once, keys the trace.

A ``Layout`` says, for every leaf of the call, whether it is carried, scanned (and on
which axis) or broadcast, which broadcast leaves are RNG state, and how the user names
each leaf (``block.w``, ``h``) for error messages. It depends only on the call's
``InputSpec`` (argument structure, graph structure), so ``nnx.scan`` builds it once per
structure. A ``Plan`` adds the concrete broadcast values of one call (Python numbers,
strings), which stay concrete inside the body as they would in a plain loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from nnx_graph import Variable, format_path
from nnx_transforms._axes import _CarryMarker as CarryMarker
from nnx_transforms._axes import broadcast_prefix, leaf_axes
from nnx_transforms._naming import (
    argument_names,
    graph_leaf_names,
    other_leaf_names,
    positional_labels,
)
from nnx_transforms._protocol import InputSpec, Lifted, tree_leaves
from nnx_variables import RngState


def _indices(axes: Sequence[Any], kind: str) -> tuple[int, ...]:
    if kind == "carry":
        return tuple(i for i, a in enumerate(axes) if isinstance(a, CarryMarker))
    if kind == "scan":
        return tuple(i for i, a in enumerate(axes) if isinstance(a, int))
    return tuple(i for i, a in enumerate(axes) if a is None)


class Layout:
    """The static side of one call structure (hashed and compared by its InputSpec)."""

    __slots__ = (
        "g_bcast",
        "g_carry",
        "g_scan",
        "graph_axes",
        "graph_names",
        "o_bcast",
        "o_carry",
        "o_scan",
        "other_axes",
        "other_names",
        "rng",
        "root_labels",
        "root_specs",
        "spec",
    )

    def __init__(
        self, lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any, fun: Any
    ) -> None:
        self.spec: InputSpec = lifted.spec
        graph_axes, other_axes = leaf_axes(lifted, args, kwargs, in_axes, "nnx.scan")
        self.graph_axes, self.other_axes = tuple(graph_axes), tuple(other_axes)
        self.g_carry, self.g_scan, self.g_bcast = (
            _indices(graph_axes, k) for k in ("carry", "scan", "bcast")
        )
        self.o_carry, self.o_scan, self.o_bcast = (
            _indices(other_axes, k) for k in ("carry", "scan", "bcast")
        )
        slots = lifted.flat.slots
        self.rng = frozenset(i for i in self.g_bcast if isinstance(slots[i], RngState))
        names = argument_names(args, kwargs, labels=positional_labels(fun, len(args)))
        self.graph_names = tuple(graph_leaf_names(lifted, names))
        self.other_names = tuple(other_leaf_names(lifted, names))
        positions = lifted.spec.object_positions
        self.root_labels = tuple(names[p] for p in positions)
        # Kept in step with ``leaf_axes``: keyword arguments are scanned on axis 0.
        per_arg = broadcast_prefix(
            tuple(in_axes) if isinstance(in_axes, list) else in_axes, args, "nnx.scan", "in_axes"
        )
        per_arg += [0] * len(tree_leaves(kwargs))
        self.root_specs = tuple(per_arg[p] for p in positions)

    def __hash__(self) -> int:
        return hash(self.spec)

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Layout) and self.spec == other.spec)

    def graph_name(self, index: int) -> str:
        return self.graph_names[index]

    def new_leaf_name(self, path: Any) -> str:
        """The name of a leaf the body added (``block.h``), from its GraphDef path."""
        if len(self.root_labels) == 1:
            return format_path(path, self.root_labels[0])
        return format_path(path[1:], self.root_labels[path[0]])


def is_array_tree(value: Any) -> bool:
    """Whether ``value`` is an array, or a pytree of arrays (a sown tuple): it is traced."""
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        return True
    leaves = jax.tree_util.tree_leaves(value)
    return bool(leaves) and all(isinstance(x, jax.Array | np.ndarray | np.generic) for x in leaves)


class Plan:
    """A Layout plus one call's concrete broadcast values: the static argument of the trace.

    ``hashable`` is False when a concrete value cannot key a cache (an unhashable object
    broadcast to every step); such a call runs without the cache.
    """

    __slots__ = ("_key", "graph_statics", "hashable", "layout", "other_statics")

    def __init__(
        self,
        layout: Layout,
        graph_statics: tuple[tuple[int, Any], ...],
        other_statics: tuple[tuple[int, Any], ...],
    ) -> None:
        self.layout = layout
        self.graph_statics = graph_statics
        self.other_statics = other_statics
        # Typed, so that 1, 1.0 and True (equal in Python) trace apart.
        self._key = (
            tuple((i, type(v), v) for i, v in graph_statics),
            tuple((i, type(v), v) for i, v in other_statics),
        )
        try:
            hash(self._key)
            self.hashable = True
        except TypeError:
            self.hashable = False

    def __hash__(self) -> int:
        return hash((self.layout, self._key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and self.layout == other.layout and self._key == other._key


def make_plan(
    layout: Layout, graph_values: list[Any], others: list[Any]
) -> tuple[Plan, list[Any], list[Any]]:
    """Take the concrete broadcast values out of the leaves; None holds their place."""
    graph_statics = _concrete(layout.g_bcast, graph_values)
    other_statics = _concrete(layout.o_bcast, others)
    if graph_statics:
        graph_values = _blank(graph_values, graph_statics)
    if other_statics:
        others = _blank(others, other_statics)
    return Plan(layout, graph_statics, other_statics), graph_values, others


def _concrete(indices: Sequence[int], values: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    return tuple((i, values[i]) for i in indices if not is_array_tree(values[i]))


def _blank(values: list[Any], statics: tuple[tuple[int, Any], ...]) -> list[Any]:
    values = list(values)
    for i, _ in statics:
        values[i] = None
    return values


def restore(values: Sequence[Any], statics: tuple[tuple[int, Any], ...]) -> list[Any]:
    """Put the concrete values back in their places (inside the trace)."""
    values = list(values)
    for i, value in statics:
        values[i] = value
    return values


def variable_for_filter(edge: tuple[Any, ...], value: Any) -> Any:
    """A stand-in for a leaf the body added, for StateAxes filters to look at."""
    if edge[0] == "var":
        kind: type[Variable[Any]] = edge[2]
        return kind.from_metadata(value, dict(edge[3]))
    return value


def leaf_edges(edges: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The edge of every state leaf, in GraphDef leaf order (see ``nnx_graph.GraphDef``)."""
    out: list[tuple[Any, ...]] = []

    def visit(edge: tuple[Any, ...]) -> None:
        tag = edge[0]
        if tag == "var" or tag == "array":
            out.append(edge)
        elif tag == "object" or tag == "dict":
            for _, child in edge[-1]:
                visit(child)
        elif tag == "list" or tag == "tuple":
            for child in edge[-1]:
                visit(child)
        elif tag == "pytree":
            for _, child in edge[2]:
                visit(child)

    for edge in edges:
        visit(edge)
    return out
