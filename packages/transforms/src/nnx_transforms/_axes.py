"""Axis specifications for vmap and scan: ints, None, Carry and StateAxes.

``in_axes`` is a prefix of the arguments, as in JAX, with two additions: an Object may
take a ``StateAxes`` (one axis per filter over its state, e.g. params stacked on axis 0
and batch statistics broadcast), and ``scan`` marks its carry with ``Carry``. This
module turns a spec into one axis per leaf of the flattened call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax

from nnx_graph import (
    Filter,
    Path,
    State,
    Variable,
    describe,
    format_path,
    message,
    to_predicate,
)
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, tree_leaves


class _CarryMarker:
    """Marks the carried argument (``in_axes``) and result (``out_axes``) of ``nnx.scan``."""

    def __repr__(self) -> str:
        return "nnx.Carry"


Carry = _CarryMarker()


class FilterMapping(Mapping[Filter, Any]):
    """Filters in order, each with a value; the first filter matching a leaf gives its value.

    Built from a ``{filter: value}`` mapping, ``(filter, value)`` pairs, or a State whose
    leaves are the values (each path its own). Read-only and hashable, so it can sit in a
    jitted function's static arguments. ``StateAxes`` and ``StateSharding`` are its kinds.
    """

    def __init__(self, entries: State | Mapping[Filter, Any] | Iterable[tuple[Filter, Any]], /):
        if isinstance(entries, State):
            entries = _path_filters(entries)
        pairs = tuple(entries.items() if isinstance(entries, Mapping) else entries)
        self.filters: tuple[Filter, ...] = tuple(f for f, _ in pairs)
        self.entries: tuple[Any, ...] = tuple(v for _, v in pairs)
        self.predicates = tuple(to_predicate(f) for f in self.filters)

    def first_match(self, path: Any, value: Any) -> Any:
        """The value of the first filter matching ``(path, value)``, else ``NO_MATCH``."""
        for predicate, entry in zip(self.predicates, self.entries, strict=True):
            if predicate(path, value):
                return entry
        return NO_MATCH

    def __getitem__(self, key: Filter) -> Any:
        for f, entry in zip(self.filters, self.entries, strict=True):
            if f == key:
                return entry
        raise KeyError(key)

    def __iter__(self) -> Iterator[Filter]:
        return iter(self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, FilterMapping)
            and self.filters == other.filters
            and self.entries == other.entries
        )

    def __hash__(self) -> int:
        return hash((type(self), self.filters, self.entries))

    def __repr__(self) -> str:
        items = ", ".join(f"{f!r}: {e!r}" for f, e in zip(self.filters, self.entries, strict=True))
        return f"{type(self).__name__}({{{items}}})"


class StateAxes(FilterMapping):
    """One axis (int or None) per filter over an Object's state; the first match wins.

    >>> from nnx_variables import Param, BatchStat
    >>> axes = StateAxes({Param: 0, BatchStat: None})
    >>> axes.axes
    (0, None)
    """

    @property
    def axes(self) -> tuple[int | _CarryMarker | None, ...]:
        return self.entries

    def axis_of(self, path: Any, value: Any) -> int | _CarryMarker | _NoMatch | None:
        return self.first_match(path, value)  # type: ignore[no-any-return]

    def map_prefix(self, path: Path, variable: Any) -> int | _CarryMarker | None:
        """The axis of the value at ``path`` (relative to the object); ValueError if none."""
        axis = self.axis_of(path, variable)
        if isinstance(axis, _NoMatch):
            raise ValueError(
                message(
                    "StateAxes.map_prefix: no StateAxes filter matches the value.",
                    [f"{format_path(path, 'object')}: {describe(variable)}"],
                    expected=f"one of the filters {list(self.filters)!r} to match it",
                    fix="add a catch-all entry last: StateAxes({..., ...: None})",
                )
            )
        return axis


class _PathIn:
    """The filter matching exactly the given paths (StateAxes built from a State)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = frozenset(tuple(p) for p in paths)

    def __call__(self, path: Path, value: Any) -> bool:
        return tuple(path) in self.paths

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PathIn) and self.paths == other.paths

    def __hash__(self) -> int:
        return hash(self.paths)

    def __repr__(self) -> str:
        return f"PathIn({', '.join(map(repr, sorted(self.paths, key=repr)))})"


def _path_filters(axes: State) -> dict[Filter, Any]:
    """``{PathIn(paths...): axis}``, grouping the State's paths by the axis they hold."""
    by_axis: dict[Any, list[Path]] = {}
    for path, leaf in axes.flat_dict().items():
        axis = leaf.value if isinstance(leaf, Variable) else leaf
        by_axis.setdefault(axis, []).append(path)
    return {_PathIn(paths): axis for axis, paths in by_axis.items()}


class _NoMatch:
    pass


NO_MATCH = _NoMatch()
AXIS_TYPES = (int, type(None), StateAxes, _CarryMarker)


def broadcast_prefix(spec: Any, tree: Any, op: str, name: str) -> list[Any]:
    """One spec per leaf of ``tree`` (objects are leaves), from a prefix ``spec``."""
    if isinstance(spec, AXIS_TYPES):
        return [spec] * len(tree_leaves(tree))
    if isinstance(spec, tuple | list) and isinstance(tree, tuple | list) and len(spec) == len(tree):
        return [
            s
            for sub_spec, sub in zip(spec, tree, strict=True)
            for s in broadcast_prefix(sub_spec, sub, op, name)
        ]
    if isinstance(spec, dict) and isinstance(tree, dict) and set(spec) == set(tree):
        return [s for key in sorted(tree) for s in broadcast_prefix(spec[key], tree[key], op, name)]
    raise ValueError(
        message(
            f"{op}: {name}={spec!r} does not fit the structure of the values it applies to.",
            [f"values: {jax.tree_util.tree_structure(tree)}"],
            expected=f"{name} to be an int, None, StateAxes or Carry, or a tuple/list/dict with "
            "one such entry per argument or element",
            fix=f"e.g. {name}=(0, None) for two arguments, the second broadcast",
        )
    )


def argument_axes(
    args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any, op: str
) -> list[Any]:
    """The spec of every argument leaf (objects whole): keyword arguments get axis 0."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple) and len(in_axes) != len(args):
        raise ValueError(
            message(
                f"{op}: in_axes has {len(in_axes)} entries but the function was called with "
                f"{len(args)} positional argument(s).",
                [f"in_axes={in_axes!r}"],
                expected="one in_axes entry per positional argument",
                fix=f"in_axes={tuple([0] * len(args))!r} (or a single int for all)",
            )
        )
    per_leaf = broadcast_prefix(in_axes, args, op, "in_axes")
    return per_leaf + [0] * len(tree_leaves(kwargs))  # keyword arguments: axis 0


def leaf_axes(
    lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any, op: str
) -> tuple[list[Any], list[Any]]:
    """The axis of every graph leaf and every other argument leaf of a lifted call."""
    per_leaf = argument_axes(args, kwargs, in_axes, op)
    flat = lifted.flat
    positions = lifted.spec.object_positions
    object_positions = set(positions)
    other_axes = [a for i, a in enumerate(per_leaf) if i not in object_positions]
    for axis in other_axes:
        if isinstance(axis, StateAxes):
            raise ValueError(
                message(
                    f"{op}: StateAxes was given for an argument that is not an Object.",
                    expected="StateAxes only for Objects; an int or None for arrays",
                    fix="use an int or None for that argument",
                )
            )
    graph_axes: list[Any] = []
    start = 0
    unmatched: list[str] = []
    single = len(positions) == 1
    for root, end in enumerate(flat.root_ends):
        spec = per_leaf[positions[root]]
        for i in range(start, end):
            if isinstance(spec, StateAxes):
                path = flat.paths[i] if single else flat.paths[i][1:]
                slot = flat.slots[i]
                value = slot if isinstance(slot, Variable) else flat.leaves[i]
                axis = spec.axis_of(path, value)
                if isinstance(axis, _NoMatch):
                    unmatched.append(
                        f"{format_path(path, f'args[{root}]')}: {type(value).__name__}"
                    )
                graph_axes.append(axis)
            else:
                graph_axes.append(spec)
        start = end
    if unmatched:
        raise ValueError(
            message(
                f"{op}: the StateAxes filters do not match every value of the object.",
                unmatched,
                expected="StateAxes filters that together cover the object's state",
                fix="add a catch-all entry last: StateAxes({..., ...: None})",
            )
        )
    return graph_axes, other_axes


def is_graph(x: Any) -> bool:
    """Whether ``x`` is an Object or Variable (a leaf of argument pytrees)."""
    return isinstance(x, GRAPH_TYPES)


def check_axis_values(axes: Sequence[Any], op: str) -> None:
    """Reject Carry outside scan."""
    for axis in axes:
        if isinstance(axis, _CarryMarker):
            raise ValueError(
                message(
                    f"{op}: nnx.Carry is only meaningful in nnx.scan.",
                    fix="use an int axis or None",
                )
            )
