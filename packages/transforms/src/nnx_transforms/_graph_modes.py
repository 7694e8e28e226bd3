"""``graph=`` and ``graph_updates=`` for the transforms, as Flax NNX 0.12 has them.

Neither mode is a second implementation: each is the graph-mode protocol plus a step.

- Tree mode (``graph=False``) checks, before the call, that no object or Variable is
  reached twice among the arguments, and refuses it naming both paths.
- Without graph updates (``graph_updates=False``, and always in tree mode) the function
  runs on the usual copies, then, still inside the trace, the copies' structure is put
  back as it came in while keeping their Variables' new values. So the caller sees new
  Variable values, and no attribute added, deleted or replaced. Returning an input
  object or Variable is refused: without graph updates it has no one place to live.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_graph import (
    Variable,
    check_tree,
    flatten,
    message,
    read_slot,
    resolve_graph,
    resolve_updates,
    shared_paths,
)
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._protocol import GRAPH_TYPES, tree_flatten


def graph_roots(
    args: tuple[Any, ...], kwargs: dict[str, Any], prefix: str = "args"
) -> tuple[list[Any], list[str]]:
    """The objects among a call's arguments, named as the user passed them."""
    keyed, _ = jax.tree_util.tree_flatten_with_path(
        (args, kwargs), is_leaf=lambda x: isinstance(x, GRAPH_TYPES)
    )
    roots, names = [], []
    for keys, leaf in keyed:
        if isinstance(leaf, GRAPH_TYPES):
            roots.append(leaf)
            if getattr(keys[0], "idx", None) == 0:  # (args, kwargs)[0]
                names.append(prefix + jax.tree_util.keystr(tuple(keys[1:])))
            else:
                names.append(f"{keys[1].key}{jax.tree_util.keystr(tuple(keys[2:]))}")
    return roots, names


def check_tree_call(args: tuple[Any, ...], kwargs: dict[str, Any], op: str) -> None:
    """Refuse a call whose arguments share an object (tree mode)."""
    roots, names = graph_roots(args, kwargs)
    check_tree(roots, names, op)


def without_updates(fun: Callable[..., Any], op: str, *, tree: bool) -> Callable[..., Any]:
    """``fun`` whose structural edits to its object arguments are undone before it returns.

    Runs inside a transform, on the transform's copies: the Variables' values survive,
    so the protocol writes those back and nothing else.
    """

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        roots, names = graph_roots(args, kwargs)
        before = flatten(roots)
        out = fun(*args, **kwargs)
        _check_aliasing(roots, names, out, op, tree=tree)
        if flatten(roots).graphdef != before.graphdef:
            leaves = [
                read_slot(slot) if isinstance(slot, Variable) else leaf
                for slot, leaf in zip(before.slots, before.leaves, strict=True)
            ]
            unflatten_graph(before.graphdef, leaves, existing=before.nodes)
        return out

    return wrapped


def _check_aliasing(
    roots: Sequence[Any], names: Sequence[str], out: Any, op: str, *, tree: bool
) -> None:
    leaves, _ = tree_flatten(out)
    if not any(isinstance(leaf, GRAPH_TYPES) for leaf in leaves):
        return
    keyed, _ = jax.tree_util.tree_flatten_with_path(
        out, is_leaf=lambda x: isinstance(x, GRAPH_TYPES)
    )
    out_roots = [leaf for _, leaf in keyed if isinstance(leaf, GRAPH_TYPES)]
    out_names = [
        f"result{jax.tree_util.keystr(keys)}"
        for keys, leaf in keyed
        if isinstance(leaf, GRAPH_TYPES)
    ]
    found = shared_paths([*roots, *out_roots], [*names, *out_names])
    problems = [
        f"{first} and {second}"
        for first, second, _ in found
        if second.startswith("result") and (tree or not first.startswith("result"))
    ]
    if problems:
        raise ValueError(
            message(
                f"{op}: the function returns an object or Variable it also received (or "
                "returns one twice); without graph updates each Variable has one place.",
                problems,
                expected="results built inside the function, not its inputs",
                fix=f"{op}(f, graph_updates=True)  # or return nnx.clone(...) of the input",
            )
        )


class Modes:
    """A transform's resolved ``graph`` / ``graph_updates`` (None: the current default)."""

    __slots__ = ("graph", "op", "updates")

    def __init__(self, graph: bool | None, graph_updates: bool | None, op: str) -> None:
        self.graph = resolve_graph(graph)
        self.updates = resolve_updates(graph, graph_updates)
        self.op = op

    def function(self, fun: Callable[..., Any]) -> Callable[..., Any]:
        """The function to run inside the transform."""
        return fun if self.updates else without_updates(fun, self.op, tree=not self.graph)

    def check(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse shared arguments in tree mode; nothing in graph mode."""
        if not self.graph:
            check_tree_call(args, kwargs, self.op)

    def checked(self, transformed: Callable[..., Any]) -> Callable[..., Any]:
        """``transformed`` that checks its arguments first (tree mode only)."""
        if self.graph:
            return transformed

        @functools.wraps(transformed)
        def call(*args: Any, **kwargs: Any) -> Any:
            check_tree_call(args, kwargs, self.op)
            return transformed(*args, **kwargs)

        return call
