"""What nnx.vmap refuses: captured objects returned, and one object on two axes.

A mapped function sees a per-index copy of its argument objects, so an object it
captured from the enclosing scope has no per-index meaning: returning it would stack a
copy unrelated to the original (and, flattened as a new object, poison the original).
And an object has one layout: a Variable reached from two arguments with different
``in_axes``, or returned with ``out_axes`` other than the axis it came in on, would have
one spec silently ignored. Flax NNX refuses both; so do we, naming every path.

Each check runs where the facts are: aliasing among the arguments before the call,
the rest while tracing, on the walk ``leave`` would do anyway, before anything is
poisoned, so a refused call leaves the caller's objects as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_graph import (
    Variable,
    current_trace_ref,
    flatten,
    format_path,
    iter_graph,
    message,
    node_trace_ref,
)
from nnx_transforms._axes import StateAxes, _NoMatch
from nnx_transforms._captured import locate
from nnx_transforms._naming import function_name
from nnx_transforms._protocol import Walked, is_graph_node


def slot_key(slot: Any) -> Any:
    """The identity of a leaf's home: its Variable, or ``(holder, key)`` for a bare array."""
    return id(slot) if isinstance(slot, Variable) else (id(slot[0]), slot[1])


def axis_at(spec: Any, path: Any, slot: Any, leaf: Any) -> Any:
    """The axis ``spec`` (an int, None or StateAxes) gives the leaf at ``path``."""
    if isinstance(spec, StateAxes):
        return spec.axis_of(path, slot if isinstance(slot, Variable) else leaf)
    return spec


def result_names(out: Any) -> list[str]:
    """How the user reaches each leaf of the result (objects whole): ``result[1]``."""
    keyed, _ = jax.tree_util.tree_flatten_with_path(out, is_leaf=is_graph_node)
    return [f"result{jax.tree_util.keystr(keys)}" for keys, _ in keyed]


def check_captured(
    f: Callable[..., Any], walked: Walked, inputs: Sequence[Any], out: Any, op: str = "nnx.vmap"
) -> None:
    """Refuse a result holding an object or Variable made outside this trace.

    ``inputs``: the transform's copies of its argument objects (``Entered.nodes``).
    Any transform can call it between ``walk_result`` and ``leave``.
    """
    here = current_trace_ref()
    copies = {id(node) for node in inputs}

    def captured(node: Any) -> bool:
        ref = node_trace_ref(node)
        return id(node) not in copies and ref is not None and ref is not here

    if not any(map(captured, walked.flat.nodes)):
        return
    problems, parameters = [], []
    names = result_names(out)
    for position in walked.object_positions:
        found = [(p, n) for p, n in iter_graph(walked.out_leaves[position]) if captured(n)]
        for path, node in found:
            if any(path[: len(top)] == top != path for top, _ in found):
                continue  # inside a captured object already named
            where = locate(f, node)
            note = f" (captured as `{where[0]}`)" if where else ""
            problems.append(f"{format_path(path, names[position])}: {type(node).__name__}{note}")
            if where:
                parameters.append(where[1])
    name = function_name(f)
    parameter = parameters[0] if parameters else "model"
    mapped = op == "nnx.vmap"
    raise ValueError(
        message(
            f"{op}: {name} returns an object it captured from the enclosing scope; a "
            "transformed function can only return objects it received as arguments or created.",
            problems,
            expected="each returned object to be an argument of the mapped function (with "
            "the same axis in in_axes and out_axes) or built inside it"
            if mapped
            else "each returned object to be an argument of the function or built inside it",
            fix=f"add `{parameter}` to {name}'s parameters and pass it in"
            + (
                ", with in_axes None for it (and out_axes None where it is returned)"
                if mapped
                else ""
            ),
        )
    )


class AxisRecord:
    """The first path and axis seen for each leaf home, to compare later ones with."""

    def __init__(self) -> None:
        self.seen: dict[Any, tuple[str, str, Any]] = {}
        self.problems: list[str] = []

    def add(self, key: Any, where: str, axis: Any, label: str) -> None:
        if isinstance(axis, _NoMatch):
            return  # reported as an unmatched StateAxes filter instead
        first_where, first_label, first_axis = self.seen.setdefault(key, (where, label, axis))
        if first_axis != axis:
            self.problems.append(
                f"{first_where} ({first_label} {first_axis!r}) and {where} ({label} {axis!r})"
            )


def check_argument_aliasing(
    roots: Sequence[Any], specs: Sequence[Any], names: Sequence[str], op: str
) -> None:
    """Refuse one leaf reached from two object arguments with different ``in_axes``."""
    if len(roots) < 2 or all(spec == specs[0] for spec in specs[1:]):
        return
    record = AxisRecord()
    for root, spec, name in zip(roots, specs, names, strict=True):
        flat = flatten([root])
        for path, slot, leaf in zip(flat.paths, flat.slots, flat.leaves, strict=True):
            axis = axis_at(spec, path, slot, leaf)
            record.add(slot_key(slot), format_path(path, name), axis, "in_axes")
    if record.problems:
        raise ValueError(
            message(
                f"{op}: one object is passed with different axes, so it has no single "
                "layout to map.",
                record.problems,
                expected="every argument that holds a shared object or Variable to give it "
                "the same axis",
                fix="give those arguments the same axis in in_axes, or pass the object once",
            )
        )


def check_result_aliasing(
    walked: Walked,
    n_input_leaves: int,
    input_axes: Sequence[Any],
    input_names: Sequence[str],
    out_specs: Sequence[Any],
    out: Any,
) -> None:
    """Refuse an input leaf returned on another axis, or a new one on two axes."""
    flat = walked.flat
    record = AxisRecord()
    for i in range(n_input_leaves):
        record.add(slot_key(flat.slots[i]), input_names[i], input_axes[i], "in_axes")
    names = result_names(out)
    for position in walked.object_positions:
        spec = out_specs[position]
        root = flatten([walked.out_leaves[position]])
        for path, slot, leaf in zip(root.paths, root.slots, root.leaves, strict=True):
            axis = axis_at(spec, path, slot, leaf)
            record.add(slot_key(slot), format_path(path, names[position]), axis, "out_axes")
    if record.problems:
        raise ValueError(
            message(
                "nnx.vmap: an object is returned with different axes than it has elsewhere "
                "(its in_axes, or another place in the result), so it has no single layout.",
                record.problems,
                expected="an input object returned on the axis it came in on, and each "
                "object returned once per axis",
                fix="set out_axes for that result to the object's in_axes (e.g. "
                "out_axes=(0, None) for `return y, model` with model in_axes None)",
            )
        )


def unmatched_error(op: str, unmatched: Sequence[str]) -> ValueError:
    """StateAxes filters that leave some of an object's (new) state without an axis."""
    return ValueError(
        message(
            f"{op}: the StateAxes filters do not match every value of the object.",
            unmatched,
            expected="StateAxes filters that together cover the object's state, including "
            "what the function adds",
            fix="add a catch-all entry last: StateAxes({..., ...: None})",
        )
    )
