"""Logical axis rules: model code names what a dimension means, a rule says where it goes.

A layer written with ``with_partitioning(init, ('embed', 'mlp'))`` names its dimensions
by role; which mesh axis each role is split over is a deployment choice, given by rules:
pairs ``(logical name, mesh axis)`` where the mesh axis is a name, a tuple of names or
``None`` (replicated). Rules come from the ``logical_axis_rules`` context (thread-local,
as in Flax NNX 0.12) and from a Variable's own ``sharding_rules`` metadata; the two are
merged, and a name the two map differently is an error, never a silent choice. A name
no rule mentions is kept as it is, so plain mesh axis names keep working.

The rules are read when a sharding is needed (eager placement, ``get_partition_spec``),
never stored, so the same model code shards differently under different rules. Unlike
flax, a tuple entry ``('embed', 'mlp')`` has each of its names mapped too (flax leaves the
tuple as it is, which no mesh accepts).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from nnx_graph._errors import message

__all__ = ["apply_axis_rules", "get_logical_axis_rules", "logical_axis_rules"]


class _Rules(threading.local):
    def __init__(self) -> None:
        self.rules: tuple[tuple[str, Any], ...] = ()


_RULES = _Rules()


def _check_rules(rules: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """``rules`` as a tuple of pairs, or a TypeError naming each malformed entry."""
    if rules is None:
        return ()
    if isinstance(rules, str) or not isinstance(rules, Sequence):
        raise TypeError(
            message(
                f"{where}: rules must be a sequence of (logical name, mesh axis) pairs, "
                f"got {type(rules).__name__} {rules!r}.",
                fix="nnx.logical_axis_rules([('batch', 'data'), ('mlp', 'model')])",
            )
        )
    pairs, bad = [], []
    for rule in rules:
        ok = isinstance(rule, Sequence) and not isinstance(rule, str) and len(rule) == 2
        target = rule[1] if ok else None
        ok = ok and isinstance(rule[0], str) and _is_mesh_entry(target)
        if ok:
            pairs.append((rule[0], tuple(target) if isinstance(target, list) else target))
        else:
            bad.append(f"{rule!r} is not a (str, mesh axis name | tuple of names | None) pair")
    if bad:
        raise TypeError(
            message(
                f"{where}: some rules are malformed.",
                bad,
                fix="nnx.logical_axis_rules([('batch', 'data'), ('embed', None)])",
            )
        )
    return tuple(pairs)


def _is_mesh_entry(target: Any) -> bool:
    if target is None or isinstance(target, str):
        return True
    return isinstance(target, tuple | list) and all(isinstance(n, str) for n in target)


@contextlib.contextmanager
def logical_axis_rules(rules: Sequence[tuple[str, Any]]) -> Iterator[None]:
    """Map logical axis names to mesh axes while the ``with`` block runs.

    The rules replace (not extend) any outer ones, and are restored on exit.

    >>> with logical_axis_rules([('mlp', 'model')]):
    ...     get_logical_axis_rules()
    (('mlp', 'model'),)
    >>> get_logical_axis_rules()
    ()
    """
    checked = _check_rules(rules, "nnx.logical_axis_rules")
    previous = _RULES.rules
    _RULES.rules = checked
    try:
        yield
    finally:
        _RULES.rules = previous


def get_logical_axis_rules() -> tuple[tuple[str, Any], ...]:
    """The rules in effect on this thread (``()`` outside any ``logical_axis_rules``).

    >>> get_logical_axis_rules()
    ()
    """
    return _RULES.rules


def apply_axis_rules(names: Any, sharding_rules: Any = None, where: str = "Variable") -> Any:
    """``names`` (one entry per dimension) with logical names replaced by mesh axes.

    ``sharding_rules`` are a Variable's own rules, merged with the context's. Returned
    unchanged (same object) when no rule is in effect, so callers pay nothing then.

    >>> apply_axis_rules(('embed', 'mlp'), [('embed', None), ('mlp', 'model')])
    (None, 'model')
    """
    local = _check_rules(sharding_rules, f"{where}: sharding_rules")
    context = _RULES.rules
    if not (local or context) or not isinstance(names, tuple | list):
        return names
    mapping = dict(context)
    conflicts = []
    for name, target in local:
        if name in mapping and mapping[name] != target:
            conflicts.append(
                f"{name!r}: logical_axis_rules map it to {mapping[name]!r}, "
                f"sharding_rules to {target!r}"
            )
        mapping[name] = target
    if conflicts:
        raise ValueError(
            message(
                f"{where}: sharding {tuple(names)!r} has logical names the context rules and "
                "the Variable's sharding_rules map to different mesh axes.",
                conflicts,
                expected="one mesh axis per logical name",
                fix="drop the name from the Variable's sharding_rules or from "
                "nnx.logical_axis_rules(...)",
            )
        )
    return tuple(_map_entry(entry, mapping) for entry in names)


def _map_entry(entry: Any, mapping: dict[str, Any]) -> Any:
    if isinstance(entry, str):
        return mapping.get(entry, entry)
    if isinstance(entry, tuple | list):
        axes: list[str] = []
        for name in entry:
            target = mapping.get(name, name) if isinstance(name, str) else name
            if isinstance(target, tuple | list):
                axes.extend(target)
            elif target is not None:
                axes.append(target)
        if not axes:
            return None
        return tuple(axes) if len(axes) != 1 else axes[0]
    return entry
