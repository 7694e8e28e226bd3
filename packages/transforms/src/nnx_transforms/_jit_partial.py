"""nnx.jit_partial: a jitted function with its leading arguments (models) bound.

A training step is usually ``step(model, optimizer, x, y)`` with the same two objects
every call; binding them once states that, and leaves the call site with only the data.
The bound objects still travel through ``nnx.jit``'s fast path on every call, so their
new state is written back and edits made between calls are seen: nothing is frozen.

``nnx.cached_partial`` is the graph-mode form: as in Flax NNX 0.12 it refuses tree mode
and ``graph_updates=False`` (its contract is that the bound objects change in place),
pointing to ``jit_partial``, which takes both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nnx_graph import message, resolve_updates
from nnx_transforms._jit import CacheInfo, JitWrapped


class JitPartialWrapped:
    """``nnx.jit(fun)`` with ``partial_args`` always passed first."""

    def __init__(self, fun: Callable[..., Any], partial_args: tuple[Any, ...], **options: Any):
        functools.update_wrapper(self, fun)
        self.partial_args = partial_args
        self.jitted = JitWrapped(fun, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.jitted(*self.partial_args, *args, **kwargs)

    def cache_info(self) -> CacheInfo:
        """The fast path's hits and misses (see ``JitWrapped.cache_info``)."""
        return self.jitted.cache_info()


def jit_partial(fun: Callable[..., Any], *partial_args: Any, **options: Any) -> JitPartialWrapped:
    """``nnx.jit(fun)`` with ``partial_args`` bound as its first positional arguments.

    Takes ``nnx.jit``'s options (``static_argnums``, ``donate_argnums`` and
    ``in_shardings`` count the bound arguments too, as positions of ``fun``), and
    ``graph=`` / ``graph_updates=``. Flax 0.12 requires ``graph=False`` or
    ``graph_updates=False`` here; we also accept the default graph mode with updates.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Counter(Module):
    ...     def __init__(self):
    ...         self.count = Variable(jnp.array(0))
    >>> def step(counter, n):
    ...     counter.count += n
    >>> counter = Counter()
    >>> bump = jit_partial(step, counter)
    >>> bump(2); bump(3)
    >>> int(counter.count.value)
    5
    """
    return JitPartialWrapped(fun, partial_args, **options)


def cached_partial(
    f: Callable[..., Any],
    *cached_args: Any,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Callable[..., Any]:
    """``f`` (a transformed function, e.g. an ``nnx.jit`` step) with ``cached_args`` bound.

    flax's remedy for the per-call cost of walking the objects; here every nnx transform
    already reuses its walk of unchanged objects (the fast path, never stale), so this
    only binds the arguments. State changes land in the bound objects after each call,
    as flax's contract says, and edits between calls are seen.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Counter(Module):
    ...     def __init__(self):
    ...         self.count = Variable(jnp.array(0))
    >>> def step(counter, k):
    ...     counter.count.value += k
    >>> from nnx_transforms import jit
    >>> counter = Counter()
    >>> bound = cached_partial(jit(step), counter)
    >>> bound(2); bound(3)
    >>> int(counter.count.value)
    5
    """
    if not resolve_updates(graph, graph_updates):
        raise ValueError(
            message(
                "nnx.cached_partial works in graph mode with graph updates only, and got "
                f"graph={graph}, graph_updates={graph_updates} (or such a default).",
                expected="graph=True and graph_updates=True (the defaults)",
                fix="nnx.jit_partial(step, *cached_args, graph=False)  # step not yet jitted",
            )
        )
    return functools.partial(f, *cached_args)
