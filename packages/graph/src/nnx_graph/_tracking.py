"""Change tracking: the structure epoch, the objects that hold cache entries, the trace.

Transforms cache the flattened structure of the graphs they are called with. Rather than
re-walk a graph on every call to see whether it changed, every structural edit of an
object that some cache depends on ("watched") bumps one global counter, the epoch. A
cache entry records the epoch read before its walk; if the epoch has not moved, no
watched structure has changed, and the check costs one integer comparison. Objects
nobody has cached (the fresh copies a transform builds while tracing, a metric made each
step) are not watched, so editing them never invalidates anything.

A bump also drops every cache entry at once (they are all stale from then on), so an
entry never keeps alive a sub-module the user has just detached. The entries live on
the objects they describe (see ``_cache``); this module only keeps weak references to
those objects, to find the entries when the epoch moves.

An edit bumps the epoch twice, before and after its write. After: a walk that ran during
the write (from another thread) read either value, so its entry must go. Before: anything
that sees the new value also sees a moved epoch, which is how check mode
(``nnx.check_fast_path``) tells an edit racing with a call from a stale entry.

Plain lists and dicts cannot report their own edits; the caches check those by
snapshot instead.

The trace state ties an object to the JAX trace it was created in, so that mutating an
object captured by closure inside ``jit`` is an error instead of a leaked tracer.
"""

from __future__ import annotations

import weakref
from typing import Any

from jax._src import core as _jax_core  # get_opaque_trace_state has no public alias yet

_epoch = 0
# id(object) -> weak reference, for every object holding cache entries. A dict, not a
# WeakSet: a WeakSet compares its members with ``==``, which a Variable overloads.
_homes: dict[int, weakref.ref[Any]] = {}


def structure_epoch() -> int:
    """The number of structural edits made so far to watched objects."""
    return _epoch


def bump_epoch() -> None:
    """Record that the structure of some watched object changed; drop every cache entry."""
    global _epoch
    _epoch += 1
    if _homes:
        drop_all_entries()


def drop_all_entries() -> None:
    """Forget every cached walk (each object's entries go with its ``_nnx_calls`` table)."""
    homes = list(_homes.values())
    _homes.clear()
    for ref in homes:
        home = ref()
        if home is not None:
            object.__setattr__(home, "_nnx_calls", None)


def register_home(home: Any) -> None:
    """Remember that ``home`` holds cache entries, so the next bump can drop them."""
    _homes[id(home)] = weakref.ref(home)


def current_trace() -> Any:
    """An opaque token for the JAX trace running now; equal tokens mean the same trace."""
    return _jax_core.get_opaque_trace_state(convention="nnx")  # type: ignore[no-untyped-call]  # jax leaves it unannotated


_context = _jax_core.trace_ctx


def current_trace_ref() -> Any:
    """The current trace's weak reference: the cheap identity the fast path compares.

    ``current_trace()`` wraps this in a fresh token each call (about 350 ns); comparing
    the reference itself with ``is`` costs a quarter of that.
    """
    return _context.trace._weakref


def trace_ref_of(token: Any) -> Any:
    """The weak reference inside a ``current_trace()`` token."""
    return token._trace_ref
