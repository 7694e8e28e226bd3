"""The rules for ``nnx.scan``'s ``in_axes`` and ``out_axes``, checked when decorating.

A wrong spec used to surface only at the first call, often as a JAX error about the
pure loop ("scan got no values to scan over" for two carries). The spec alone decides
these rules, so they are checked once, where the decorator is applied:

- every entry is an int (scanned on that axis), None (broadcast, inputs only),
  ``nnx.Carry``, or, in ``in_axes``, a ``StateAxes`` for an Object;
- ``Carry`` marks one whole argument and one whole result: at most one entry of each,
  at the top level (``StateAxes({...: Carry})`` carries part of an Object and may sit
  beside it);
- ``in_axes`` has a top-level ``Carry`` exactly when ``out_axes`` has one: what goes
  round the loop must come back out of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nnx_graph import message
from nnx_transforms._axes import StateAxes, _CarryMarker

_EXPECTED = (
    "an int (the axis scanned over), None (broadcast: the same value at every step), "
    "nnx.Carry (the loop carry), or StateAxes for an Object"
)


def _entries(spec: Any, where: str, depth: int) -> Iterator[tuple[str, Any, int]]:
    """Every axis in ``spec`` with how the user would write its place, and its depth."""
    if isinstance(spec, tuple | list):
        for i, item in enumerate(spec):
            yield from _entries(item, f"{where}[{i}]", depth + 1)
    elif isinstance(spec, dict):
        for key, item in spec.items():
            yield from _entries(item, f"{where}[{key!r}]", depth + 1)
    else:
        yield where, spec, depth


def _top_level_carries(spec: Any, name: str) -> list[str]:
    return [where for where, axis, depth in _entries(spec, name, 0) if _is_carry(axis, depth)]


def _is_carry(axis: Any, depth: int) -> bool:
    return isinstance(axis, _CarryMarker) and depth <= 1


def check_scan_axes(in_axes: Any, out_axes: Any) -> None:
    """Raise a ValueError naming the first bad entry of ``in_axes`` / ``out_axes``."""
    for name, spec in (("in_axes", in_axes), ("out_axes", out_axes)):
        for where, axis, depth in _entries(spec, name, 0):
            _check_entry(name, where, axis, depth)
        carries = _top_level_carries(spec, name)
        if len(carries) > 1:
            raise ValueError(
                message(
                    f"nnx.scan: {name} marks {len(carries)} entries as nnx.Carry "
                    f"({' and '.join(carries)}); the loop has one carry.",
                    expected="one nnx.Carry entry; several carried values go in one tuple",
                    fix="pass them as one argument: f((a, b), x) with in_axes=(nnx.Carry, 0)",
                )
            )
    has_in, has_out = bool(_top_level_carries(in_axes, "")), bool(_top_level_carries(out_axes, ""))
    if has_in != has_out:
        given, missing = ("in_axes", "out_axes") if has_in else ("out_axes", "in_axes")
        raise ValueError(
            message(
                f"nnx.scan: {given} has Carry but {missing} has none (in_axes={in_axes!r}, "
                f"out_axes={out_axes!r}).",
                expected="the carry to go into the loop body and come back out of it",
                fix="mark both: in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0), and return "
                "the new carry first",
            )
        )


def _check_entry(name: str, where: str, axis: Any, depth: int) -> None:
    if isinstance(axis, _CarryMarker):
        if depth > 1:
            raise ValueError(
                message(
                    f"nnx.scan: {where} is nnx.Carry inside a nested {name} entry; the carry "
                    "is a whole argument or result, given at the top level.",
                    expected=f"nnx.Carry only as {name} itself or one of its entries",
                    fix="make the carried values one argument: in_axes=(nnx.Carry, 0)",
                )
            )
        return
    if isinstance(axis, StateAxes):
        if name == "out_axes":
            raise ValueError(
                message(
                    f"nnx.scan: {where} is a StateAxes; results are stacked whole.",
                    expected="an int or nnx.Carry for each result",
                    fix="out_axes=0, then nnx.split the result to treat parts differently",
                )
            )
        for filter_, inner in zip(axis.filters, axis.axes, strict=True):
            _check_entry(name, f"{where}[{filter_!r}]", inner, 1)
        return
    if axis is None:
        if name == "out_axes":
            raise ValueError(
                message(
                    f"nnx.scan: {where} is None; a result cannot be broadcast out of a loop.",
                    expected="nnx.Carry for the carried result and an int for stacked results",
                    fix="return the value as part of the carry, or stack it with out_axes 0",
                )
            )
        return
    if isinstance(axis, int) and not isinstance(axis, bool):
        return
    raise ValueError(
        message(
            f"nnx.scan: {where} is {axis!r}, not an axis.",
            expected=_EXPECTED,
            fix="e.g. in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0)",
        )
    )
