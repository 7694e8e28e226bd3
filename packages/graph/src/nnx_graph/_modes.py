"""Graph mode and graph updates: the two switches Flax NNX 0.12 puts on every API.

Graph mode (the default) lets one object or Variable be reached from several places,
and keeps the sharing through split/merge and transforms. Tree mode (``graph=False``)
is the pytree view of a model: each node has one path, so a shared reference is an
error naming both paths instead of a silent copy. We implement tree mode as graph mode
plus that check, so the two never give different values for a tree.

Graph updates (the default) write structural changes made inside a transform (an
attribute added, a Variable replaced) back to the caller's objects; without them only
the values of the caller's own Variables come back, as in flax's tree mode.

``set_graph_mode(v)`` and ``set_graph_updates(v)`` change the default: called plainly
they set it for the current thread (inside a ``with`` block, until the block ends), as a
context manager for the block, and as a decorator for each call of the function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnx_graph._errors import describe, message
from nnx_graph._flatten import sorted_keys
from nnx_graph._object import Object
from nnx_graph._paths import Path, format_path
from nnx_graph._settings import Setting as _Setting
from nnx_graph._variable import Variable


class set_graph_mode(_Setting):  # flax's name; a class, to be a context manager
    """Make graph mode (True) or tree mode (False) the default of every nnx API.

    >>> import nnx_graph
    >>> with nnx_graph.set_graph_mode(False):
    ...     nnx_graph.set_graph_mode.current_value()
    False
    >>> nnx_graph.set_graph_mode.current_value()
    True
    """

    name = "graph"


class set_graph_updates(_Setting):  # flax's name; a class, to be a context manager
    """Make transforms write structural changes back (True) or only Variable values.

    >>> import nnx_graph
    >>> @nnx_graph.set_graph_updates(False)
    ... def step():
    ...     return nnx_graph.set_graph_updates.current_value()
    >>> step(), nnx_graph.set_graph_updates.current_value()
    (False, True)
    """

    name = "updates"


def resolve_graph(graph: bool | None) -> bool:
    """``graph`` as given, or the current default when None."""
    return set_graph_mode.current_value() if graph is None else graph


def resolve_updates(graph: bool | None, graph_updates: bool | None) -> bool:
    """Whether structural changes are written back: never in tree mode."""
    if not resolve_graph(graph):
        return False
    return set_graph_updates.current_value() if graph_updates is None else graph_updates


def shared_paths(roots: Sequence[Any], names: Sequence[str]) -> list[tuple[str, str, Any]]:
    """``(first path, other path, node)`` for each Object or Variable reached twice.

    An attribute a class lists in ``_nnx_references`` (an Optimizer's ``model``) refers
    to an object owned elsewhere: it is walked after everything else, and reaching an
    object already seen through it is not sharing. So ``(model, optimizer)`` is a tree,
    as it is in Flax NNX 0.12, where the Optimizer does not hold the model.
    """
    seen: dict[int, str] = {}
    found: list[tuple[str, str, Any]] = []
    deferred: list[tuple[Any, Path, str]] = []

    def walk(value: Any, path: Path, name: str) -> None:
        if isinstance(value, Object | Variable):
            where = format_path(path, name)
            if id(value) in seen:
                found.append((seen[id(value)], where, value))
                return  # below it, everything repeats (and a cycle would not end)
            seen[id(value)] = where
        if isinstance(value, Object):
            attrs = vars(value)
            references = getattr(type(value), "_nnx_references", ())
            for key in sorted_keys(attrs):
                if key in references:
                    deferred.append((attrs[key], (*path, key), name))
                else:
                    walk(attrs[key], (*path, key), name)
        elif isinstance(value, dict):
            for key in list(value):
                walk(value[key], (*path, key), name)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, (*path, i), name)

    for root, name in zip(roots, names, strict=True):
        walk(root, (), name)
    while deferred:
        value, path, name = deferred.pop(0)
        if id(value) not in seen:
            walk(value, path, name)
    return found


def check_tree(roots: Sequence[Any], names: Sequence[str], op: str) -> None:
    """Refuse a shared reference in tree mode, naming both paths of each.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Tied(Module):
    ...     def __init__(self):
    ...         self.a = Variable(jnp.ones(1))
    ...         self.b = self.a
    >>> check_tree([Tied()], ["model"], "nnx.split")
    Traceback (most recent call last):
    ...
    ValueError: nnx.split: tree mode (graph=False) does not allow shared references...
    """
    found = shared_paths(roots, names)
    if found:
        raise ValueError(
            message(
                f"{op}: tree mode (graph=False) does not allow shared references, and "
                "this graph reaches the same object from two places.",
                [f"{a} and {b}: the same {describe(node)}" for a, b, node in found],
                expected="every Object and Variable reachable by one path only",
                fix=f"{op}(..., graph=True)  # or give each place its own copy (nnx.clone)",
            )
        )
