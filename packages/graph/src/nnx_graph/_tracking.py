"""Change tracking: the structure epoch and the trace an object belongs to.

Transforms cache the flattened structure of the graphs they are called with. Rather than
re-walk a graph on every call to see whether it changed, every structural edit of an
object that some cache depends on ("watched") bumps one global counter, the epoch. A
cache entry records the epoch it was built at; if the epoch has not moved, no watched
structure has changed, and the check costs one integer comparison. Objects nobody has
cached (the fresh copies a transform builds while tracing, a metric made each step) are
not watched, so editing them never invalidates anything.

Plain lists and dicts cannot report their own edits; the transforms' cache checks those
by identity snapshot instead.

The trace state ties an object to the JAX trace it was created in, so that mutating an
object captured by closure inside ``jit`` is an error instead of a leaked tracer.
"""

from __future__ import annotations

from typing import Any

from jax._src import core as _jax_core  # get_opaque_trace_state has no public alias yet

_epoch = 0


def structure_epoch() -> int:
    """The number of structural edits made so far to watched objects."""
    return _epoch


def bump_epoch() -> None:
    """Record that the structure of some watched object changed."""
    global _epoch
    _epoch += 1


def current_trace() -> Any:
    """An opaque token for the JAX trace running now; equal tokens mean the same trace."""
    return _jax_core.get_opaque_trace_state(convention="nnx")  # type: ignore[no-untyped-call]  # jax leaves it unannotated
