"""The fast path: skip re-flattening object graphs whose structure has not changed.

Flattening a graph costs Python work per node; a training step calls the same jitted
function with the same objects thousands of times. Calls are therefore cached by
(argument structure, identity of the objects passed, static arguments) to the ``Lifted``
inputs built last time: the GraphDef, the static InputSpec (what JAX's own cache is
keyed on) and the slots where every leaf lives. On a hit, a call only reads the leaf
values out of those slots.

A hit is never stale: ``nnx_graph.GraphCache`` invalidates an entry on any structural
edit (a sub-module or Variable replaced, a list or dict edited, a static attribute or
metadata changed, ``train()``/``eval()``), and a new object passed is a new key. The
entries live on the objects (see ``nnx_graph._cache``) and are shared by every jitted
function called with the same objects in the same way, so they hold no arrays, die
with their objects, and a loop passing many objects through one function hits for each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_graph import GraphCache
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, is_graph_node, lift

# One namespace for every jitted function: the lifted inputs depend on the call's
# arguments and static arguments only, never on the function.
_CALLS: GraphCache[Lifted] = GraphCache(lambda lifted: lifted.flat, "nnx.jit")


class CallCache:
    """One jitted function's view of the shared call cache, with its own counters."""

    __slots__ = ("hits", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def lift(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        statics: tuple[tuple[Any, Any], ...] = (),
        root_names: Sequence[str] | None = None,
        fun: Callable[..., Any] | None = None,
        op: str | None = None,
    ) -> Lifted:
        """The Lifted inputs for this call: cached when still valid, else built anew.

        ``fun`` and ``op`` word the errors of a walk (see ``lift``); a hit pays nothing.
        """
        others: list[Any] = []
        if not kwargs and all(isinstance(arg, GRAPH_TYPES) for arg in args):
            # The usual training step, ``step(model, optimizer)``: objects only, so their
            # identities alone fix the argument structure (no pytree flatten at all).
            key: tuple[Any, ...] = (len(args), statics)
            roots: tuple[Any, ...] = args
        else:
            leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=is_graph_node)
            roots = tuple(x for x in leaves if isinstance(x, GRAPH_TYPES))
            key = (treedef, statics)
            others = [x for x in leaves if not isinstance(x, GRAPH_TYPES)]

        def build() -> tuple[Lifted, Lifted]:
            lifted = lift(
                args, kwargs, statics=statics, root_names=root_names, watch=True, fun=fun, op=op
            )
            return lifted, Lifted(lifted.spec, lifted.flat.cached_copy(roots), [], ())

        lifted, hit = _CALLS.lookup(key, roots, build)
        if not hit:
            self.misses += 1
            return lifted
        self.hits += 1
        return Lifted(lifted.spec, lifted.flat, others, roots)

    def clear(self) -> None:
        """Forget every cached call (of every function: entries are shared)."""
        _CALLS.clear()
