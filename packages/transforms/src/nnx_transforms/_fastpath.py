"""The fast path: skip re-flattening object graphs whose structure has not changed.

Flattening a graph costs Python work per node; a training step calls the same jitted
function with the same objects thousands of times. Each transformed function therefore
keeps a small cache from (argument structure, identity of the objects passed) to the
``Lifted`` inputs it built last time: the GraphDef, the static InputSpec (which is what
JAX's own cache is keyed on) and the slots where every leaf lives. On a hit, a call only
reads the leaf values out of those slots.

A hit must never be stale. Every structural edit of an object in a cached graph bumps
the global structure epoch (the objects are marked "watched" when cached: see
``nnx_graph._tracking``); lists, dicts and mutable pytree nodes, which cannot report
their own edits, are compared against an identity snapshot taken when cached. So the
validity check is one integer comparison plus one cheap snapshot comparison per
container, and an entry is rebuilt after any sub-module or Variable replaced, list or
dict edited, static attribute changed, ``train()``/``eval()``, or new object passed.

Entries hold strong references to the objects (so their ids cannot be reused while
cached); the cache is small and evicts its oldest entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnx_graph import structure_epoch
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, lift, tree_flatten

CACHE_SIZE = 8


class _Entry:
    __slots__ = ("epoch", "lifted")

    def __init__(self, lifted: Lifted, epoch: int) -> None:
        self.lifted = lifted
        self.epoch = epoch


class CallCache:
    """Lifted inputs of recent calls, reused while their structure is unchanged."""

    __slots__ = ("_entries", "hits", "misses")

    def __init__(self) -> None:
        self._entries: dict[Any, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def lift(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        statics: tuple[tuple[int, Any], ...] = (),
        root_names: Sequence[str] | None = None,
    ) -> Lifted:
        """The Lifted inputs for this call: cached when still valid, else built anew."""
        leaves, treedef = tree_flatten((args, kwargs))
        objects = tuple(id(x) for x in leaves if isinstance(x, GRAPH_TYPES))
        key = (treedef, objects, statics)
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.epoch == structure_epoch()
            and entry.lifted.flat.mutables_unchanged()
        ):
            self.hits += 1
            cached = entry.lifted
            if len(objects) == len(leaves):
                return cached
            others = [x for x in leaves if not isinstance(x, GRAPH_TYPES)]
            return Lifted(cached.spec, cached.flat, others)
        self.misses += 1
        lifted = lift(args, kwargs, statics=statics, root_names=root_names)
        lifted.flat.watch()
        if key not in self._entries and len(self._entries) >= CACHE_SIZE:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(lifted, structure_epoch())
        return lifted

    def clear(self) -> None:
        """Forget every entry (and the references they hold)."""
        self._entries.clear()
