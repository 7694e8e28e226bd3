"""The error for an object that escaped an earlier transform and is passed to another.

A transform poisons the objects it built once it returns (``nnx_graph.mark_escaped``):
their Variables hold an ``EscapedValue`` naming where they were built. Handed to JAX,
such a value fails deep inside (a TypeError about an invalid JAX type, or a jit
argument it cannot trace); ``lift`` finds it first, while walking the arguments, and
raises this error naming each such Variable by the path the user would type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnx_graph import EscapedTraceError, EscapedValue, message


def origin_of(op: str | None, fun: Any) -> str:
    """Where an object was built, for the poison: ``"nnx.jit (tracing build)"``.

    >>> origin_of("nnx.jit", lambda: None)
    'nnx.jit (tracing a lambda)'
    """
    name = getattr(fun, "__name__", None)
    traced = "a lambda" if name in (None, "<lambda>") else name
    return f"{op or 'an nnx transform'} (tracing {traced})"


def escaped_error(
    op: str | None,
    roots: Sequence[str],
    names: Sequence[str],
    slots: Sequence[Any],
    leaves: Sequence[Any],
) -> EscapedTraceError | None:
    """The error naming every escaped Variable among a call's leaves, or None.

    ``roots`` are the arguments' names (``block``); ``names[i]`` is how the user
    reaches leaf ``i`` (``block.layers[0].kernel``), ``slots[i]`` the Variable (or
    container) holding it.
    """
    found = [
        (name, slot, leaf)
        for name, slot, leaf in zip(names, slots, leaves, strict=True)
        if type(leaf) is EscapedValue
    ]
    if not found:
        return None
    hit = list(dict.fromkeys(_root_of(name, roots) for name, _, _ in found))
    origins = list(dict.fromkeys(leaf.origin or "another JAX transform" for _, _, leaf in found))
    where = f"{op}: " if op else ""
    summary = (
        f"{where}{' and '.join(hit)} {'was' if len(hit) == 1 else 'were'} built inside "
        f"{' and '.join(origins)} and used after that transform returned; its Variables "
        "hold no values any more."
    )
    problems = [f"{name}: a {type(slot).__name__} built there" for name, slot, _ in found]
    first = hit[0]
    return EscapedTraceError(
        message(
            summary,
            problems,
            expected="objects built outside any transform, or returned by the transform "
            "that built them (its copies of objects hold its tracers and die with it)",
            fix=f"{first} = build(...)  # return {first} from the transformed function "
            "that builds it, or build it outside any transform",
        )
    )


def _root_of(name: str, roots: Sequence[str]) -> str:
    """The argument ``name`` starts from: the longest root it extends."""
    matches = [root for root in roots if name == root or name.startswith((f"{root}.", f"{root}["))]
    return max(matches, key=len) if matches else name
