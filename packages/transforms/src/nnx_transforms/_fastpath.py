"""The fast path: skip re-flattening object graphs whose structure has not changed.

Flattening a graph costs Python work per node; a training step calls the same jitted
function with the same objects thousands of times. Each transformed function therefore
keeps a small cache from (argument structure, identity of the objects passed, static
arguments) to the ``Lifted`` inputs it built last time: the GraphDef, the static
InputSpec (what JAX's own cache is keyed on) and the slots where every leaf lives. On a
hit, a call only reads the leaf values out of those slots.

A hit is never stale: ``nnx_graph.GraphCache`` invalidates an entry on any structural
edit (a sub-module or Variable replaced, a list or dict edited, a static attribute
changed, ``train()``/``eval()``), and a new object passed is a new key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from nnx_graph import GraphCache
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, is_variable, lift


class CallCache:
    """Lifted inputs of recent calls, reused while their structure is unchanged."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: GraphCache[Lifted] = GraphCache(lambda lifted: lifted.flat)

    @property
    def hits(self) -> int:
        """Calls served from the cache."""
        return self._cache.hits

    @property
    def misses(self) -> int:
        """Calls that had to flatten their arguments."""
        return self._cache.misses

    def lift(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        statics: tuple[tuple[Any, Any], ...] = (),
        root_names: Sequence[str] | None = None,
    ) -> Lifted:
        """The Lifted inputs for this call: cached when still valid, else built anew."""
        others: list[Any] = []
        if not kwargs and all(isinstance(arg, GRAPH_TYPES) for arg in args):
            # The usual training step, ``step(model, optimizer)``: objects only, so their
            # identities alone fix the argument structure (a key no other call shape has).
            key: tuple[Any, ...] = (tuple(map(id, args)), statics)
        else:
            leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=is_variable)
            objects = tuple(id(x) for x in leaves if isinstance(x, GRAPH_TYPES))
            key = (treedef, objects, statics)
            others = [x for x in leaves if not isinstance(x, GRAPH_TYPES)]
        cached = self._cache.get(key)
        if cached is None:
            cached = lift(args, kwargs, statics=statics, root_names=root_names)
            self._cache.put(key, cached)
            return cached
        return Lifted(cached.spec, cached.flat, others) if others else cached

    def clear(self) -> None:
        """Forget every entry (and the references they hold)."""
        self._cache.clear()
