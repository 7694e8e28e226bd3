"""Axis specifications for vmap and scan: ints, None, Carry and StateAxes.

``in_axes`` is a prefix of the arguments, as in JAX, with two additions: an Object may
take a ``StateAxes`` (one axis per filter over its state, e.g. params stacked on axis 0
and batch statistics broadcast), and ``scan`` marks its carry with ``Carry``. This
module turns a spec into one axis per leaf of the flattened call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax

from nnx_graph import Filter, Variable, format_path, message, to_predicate
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, tree_leaves


class _CarryMarker:
    """Marks the carried argument (``in_axes``) and result (``out_axes``) of ``nnx.scan``."""

    def __repr__(self) -> str:
        return "nnx.Carry"


Carry = _CarryMarker()


class StateAxes:
    """One axis (int or None) per filter over an Object's state.

    >>> from nnx_variables import Param, BatchStat
    >>> axes = StateAxes({Param: 0, BatchStat: None})
    >>> axes.axes
    (0, None)
    """

    def __init__(self, filter_axes: Mapping[Filter, int | _CarryMarker | None]) -> None:
        self.filters = tuple(filter_axes.keys())
        self.axes = tuple(filter_axes.values())
        self.predicates = tuple(to_predicate(f) for f in self.filters)

    def axis_of(self, path: Any, value: Any) -> int | _CarryMarker | _NoMatch | None:
        for predicate, axis in zip(self.predicates, self.axes, strict=True):
            if predicate(path, value):
                return axis
        return NO_MATCH

    def __repr__(self) -> str:
        items = ", ".join(f"{f!r}: {a!r}" for f, a in zip(self.filters, self.axes, strict=True))
        return f"StateAxes({{{items}}})"


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


def leaf_axes(
    lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any, op: str
) -> tuple[list[Any], list[Any]]:
    """The axis of every graph leaf and every other argument leaf of a lifted call."""
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
    per_leaf += [0] * len(tree_leaves(kwargs))  # keyword arguments: axis 0
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
