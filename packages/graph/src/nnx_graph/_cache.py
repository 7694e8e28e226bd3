"""A small cache of flattened graphs that is never stale.

Flattening walks every node; splitting the same objects again, or calling a jitted
function with them again, would repeat the walk for an identical result. A cache entry
keeps the FlatGraph of some roots and is valid while nothing about their structure has
changed: the structure epoch has not moved since the entry was made (every structural
edit of a watched Object or Variable bumps it, see ``_tracking``) and no list, dict or
mutable pytree node in the graph was edited in place (checked against an identity
snapshot). A hit then only has to read the current leaf values out of the slots.

Entries hold strong references to the objects, so their ids cannot be reused while
cached; the cache is small and drops its oldest entry first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from nnx_graph import _tracking
from nnx_graph._flatten import FlatGraph

T = TypeVar("T")

CACHE_SIZE = 8


class GraphCache(Generic[T]):
    """Values built from flattened graphs, keyed by the caller, checked for staleness.

    ``T`` is whatever the caller derives from a FlatGraph (the FlatGraph itself for
    ``split``; the transforms' lifted inputs for ``jit``); ``flat_of`` gets the
    FlatGraph back out of it.
    """

    __slots__ = ("_entries", "flat_of", "hits", "misses")

    def __init__(self, flat_of: Callable[[T], FlatGraph]) -> None:
        self._entries: dict[Hashable, tuple[int, FlatGraph, T]] = {}
        self.flat_of = flat_of
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> T | None:
        """The value stored under ``key`` if its graph's structure is unchanged."""
        entry = self._entries.get(key)
        if entry is not None:
            epoch, flat, value = entry
            if epoch == _tracking._epoch and flat.mutables_unchanged():
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, key: Hashable, value: T) -> None:
        """Store ``value``; its graph's objects become watched from now on."""
        flat = self.flat_of(value)
        flat.watch()
        if key not in self._entries and len(self._entries) >= CACHE_SIZE:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (_tracking._epoch, flat, value)

    def clear(self) -> None:
        """Forget every entry (and the references they hold)."""
        self._entries.clear()
