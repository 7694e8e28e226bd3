"""Cached walks of object graphs: never stale, never keeping a dropped object alive.

Flattening walks every node; splitting the same objects again, or calling a jitted
function with them again, would repeat the walk for an identical result. A cache entry
keeps the FlatGraph of some roots and is valid while nothing about their structure has
changed: the structure epoch has not moved since just before the walk (every structural
edit of a watched Object or Variable bumps it, see ``_tracking``; nodes become watched
the moment the walk reaches them, so an edit made during a walk from another thread is
seen too) and no list, dict or mutable pytree node in the graph was edited in place
(checked against the snapshot the walk took). A hit then only reads the current leaf
values out of the slots.

Memory: an entry is stored on its first root (its *home*, in the ``_nnx_calls`` table
every Object and Variable has), not in the cache. So an entry lives exactly as long as
the objects it describes: when the user drops a model, its entries are garbage with it,
whichever functions it was passed to. The other roots of a call (an optimizer beside the
model) are held weakly and their death removes the entry. Entries hold no array values
(leaves and arguments are read anew on each call), and a bump of the epoch drops every
entry, so a detached sub-module is not kept either. Each home holds at most
``ENTRIES_PER_OBJECT`` entries; a loop passing many objects through one function keeps
hitting, since each object carries its own.

Check mode (``check_fast_path()`` or ``NNX_CHECK_FAST_PATH=1``) re-walks the graph on
every hit and raises ``StaleCacheError`` if the fresh walk differs from the cached one.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from nnx_graph import _tracking
from nnx_graph._errors import StaleCacheError, message
from nnx_graph._flatgraph import FlatGraph, describe_difference

T = TypeVar("T")

ENTRIES_PER_OBJECT = 32
_CHECK = [os.environ.get("NNX_CHECK_FAST_PATH", "") not in ("", "0")]


class check_fast_path:
    """Verify every cached walk against a fresh one (slow; for tests and debugging).

    Turns the check on (or off with ``False``) from now on; used as a context manager,
    the previous setting comes back on exit. ``NNX_CHECK_FAST_PATH=1`` turns it on for
    a whole process.

    >>> with check_fast_path():
    ...     pass  # every nnx.jit / nnx.split hit in here is verified
    """

    def __init__(self, enabled: bool = True) -> None:
        self.previous = _CHECK[0]
        _CHECK[0] = enabled

    def __enter__(self) -> check_fast_path:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _CHECK[0] = self.previous


def checking_fast_path() -> bool:
    """Whether check mode is on."""
    return _CHECK[0]


class GraphCache(Generic[T]):
    """Values built from flattened graphs, stored on the objects they describe.

    ``T`` is whatever the caller derives from a FlatGraph (the FlatGraph itself for
    ``split``; the transforms' lifted inputs for ``jit``); ``flat_of`` gets the
    FlatGraph back out of it. A cache is a namespace: entries of different caches on the
    same object never mix.
    """

    __slots__ = ("__weakref__", "_objectless", "flat_of", "hits", "misses", "name")

    def __init__(self, flat_of: Callable[[T], FlatGraph], name: str = "cache") -> None:
        self.flat_of = flat_of
        self.name = name
        self.hits = 0
        self.misses = 0
        # Calls with no object at all have no home; their entries hold only structure.
        self._objectless: dict[Hashable, T] = {}

    def lookup(
        self, key: Hashable, roots: Sequence[Any], build: Callable[[], tuple[T, T]]
    ) -> tuple[T, bool]:
        """The value for ``key`` and whether it was cached; else built (then cached).

        ``key`` describes the call's structure; ``roots`` are its graph objects in order
        (their identities complete the key). ``build`` walks the graph with
        ``watch=True`` and returns the value for this call and the copy to keep (no
        leaf values, other roots not held: ``FlatGraph.cached_copy``).
        """
        epoch = _tracking._epoch
        value = self._get(key, roots)
        if value is not None:
            self.hits += 1
            if _CHECK[0]:
                self._verify(value, build, roots, epoch)
            return value, True
        self.misses += 1
        epoch = _tracking._epoch  # read before the walk: an edit during it makes it stale
        value, kept = build()
        if _tracking._epoch == epoch:
            self._put(key, roots, kept, epoch)
        return value, False

    def _get(self, key: Hashable, roots: Sequence[Any]) -> T | None:
        if not roots:
            return self._objectless.get(key)
        table = roots[0]._nnx_calls
        if table is None:
            return None
        entry = table.get((self, key, *map(id, roots[1:])))
        if entry is None:
            return None
        epoch, value, others = entry
        if epoch != _tracking._epoch:
            return None
        # The ids are in the key; the weak references rule out an id reused meanwhile.
        for ref, root in zip(others, roots[1:], strict=True):
            if ref() is not root:
                return None
        if not self.flat_of(value).mutables_unchanged():
            return None
        return value  # type: ignore[no-any-return]

    def _put(self, key: Hashable, roots: Sequence[Any], value: T, epoch: int) -> None:
        if not roots:
            if len(self._objectless) >= ENTRIES_PER_OBJECT:
                del self._objectless[next(iter(self._objectless))]
            self._objectless[key] = value
            return
        home = roots[0]
        table = home._nnx_calls
        if table is None:
            table = {}
            object.__setattr__(home, "_nnx_calls", table)
        full_key = (self, key, *map(id, roots[1:]))
        home_ref = weakref.ref(home)

        def forget(_: Any) -> None:  # another root died: its entry goes with it
            owner = home_ref()
            if owner is not None and owner._nnx_calls is not None:
                owner._nnx_calls.pop(full_key, None)

        others = tuple(weakref.ref(root, forget) for root in roots[1:])
        if full_key not in table and len(table) >= ENTRIES_PER_OBJECT:
            del table[next(iter(table))]
        table[full_key] = (epoch, value, others)
        _tracking.register_home(home)

    def _verify(
        self, cached: T, build: Callable[[], tuple[T, T]], roots: Sequence[Any], epoch: int
    ) -> None:
        # An edit from another thread after the hit was taken is a race the caller has
        # anyway, not a stale entry: an edit moves the epoch before it writes, so a walk
        # that sees its new value also sees the epoch moved.
        problems = describe_difference(self.flat_of(cached), self.flat_of(build()[1]))
        if not problems or _tracking._epoch != epoch:
            return
        kinds = ", ".join(type(root).__name__ for root in roots) or "no objects"
        raise StaleCacheError(
            message(
                f"nnx fast path ({self.name}): a cached walk of ({kinds}) no longer "
                "matches the graph.",
                problems,
                expected="every structural edit to go through attribute assignment, "
                "item assignment on lists and dicts, or the nnx API",
                fix="edit models with `model.x = ...` / `del model.x`, not "
                "`object.__setattr__` or `model.__dict__`",
            )
        )

    def clear(self) -> None:
        """Forget every entry, on every object (as a structural edit would)."""
        self._objectless.clear()
        _tracking.drop_all_entries()
