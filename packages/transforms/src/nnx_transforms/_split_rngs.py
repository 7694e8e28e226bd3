"""nnx.split_rngs: give each index of a vmap or scan its own RNG keys.

Inside ``nnx.vmap`` every mapped copy of a module would otherwise draw the same key.
``split_rngs(splits=n)`` replaces each RNG stream's key in the arguments with ``n`` keys
(split from the stream's next key) and its count with ``n`` zeros, so mapping the
streams on axis 0 hands each copy a different key. As a decorator, the streams are
restored after the call, one key further on; after an error, exactly as they were.
Called on values (``backups = split_rngs(rngs, splits=5)``) it splits them in place and
returns the ``SplitBackups`` that ``nnx.restore_rngs`` (or a ``with`` block) puts back.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import iter_graph, message
from nnx_transforms._protocol import GRAPH_TYPES, tree_leaves
from nnx_variables import RngStream, fork_rngs


def _streams(values: Any, only: Any) -> list[RngStream]:
    names = _names(only)
    found: dict[int, RngStream] = {}
    for leaf in tree_leaves(values):
        if not isinstance(leaf, GRAPH_TYPES):
            continue
        for _, node in iter_graph(leaf):
            if isinstance(node, RngStream) and (names is None or node.tag in names):
                found.setdefault(id(node), node)
    return list(found.values())


def _names(only: Any) -> set[str] | None:
    if only is Ellipsis or only is None or only is True:
        return None
    if isinstance(only, str):
        return {only}
    if isinstance(only, tuple | list | set) and all(isinstance(n, str) for n in only):
        return set(only)
    raise TypeError(
        message(
            f"nnx.split_rngs: only={only!r} is not a stream name or names.",
            expected="..., a stream name such as 'dropout', or a tuple of names",
            fix="nnx.split_rngs(splits=4, only='dropout')",
        )
    )


@contextlib.contextmanager
def _split(values: Any, splits: int | tuple[int, ...], only: Any) -> Iterator[None]:
    streams = _streams(values, only)
    saved = [(s, s.key.value, s.count.value) for s in streams]
    shape = (splits,) if isinstance(splits, int) else tuple(splits)
    for stream in streams:
        key = stream()
        stream.key.value = jax.random.split(key, shape)
        stream.count.value = jnp.zeros(shape, dtype=jnp.uint32)
    try:
        yield
    except BaseException:
        for stream, key, count in saved:
            stream.key.value, stream.count.value = key, count
        raise
    for stream, key, count in saved:
        stream.key.value, stream.count.value = key, count + 1


def split_rngs(
    f_or_values: Any = None,
    *,
    splits: int | tuple[int, ...],
    only: Any = ...,
) -> Any:
    """Split the RNG streams in a call's arguments (a decorator), or in ``values`` in place.

    >>> from nnx_variables import Rngs, restore_rngs
    >>> rngs = Rngs(0)
    >>> with split_rngs(rngs, splits=3):
    ...     rngs.default.key.value.shape
    (3,)
    >>> backups = split_rngs(rngs, splits=5)
    >>> rngs.default.key.value.shape
    (5,)
    >>> restore_rngs(backups)
    >>> rngs.default.key.value.shape
    ()
    """
    if callable(f_or_values) and not isinstance(f_or_values, GRAPH_TYPES):
        return _decorate(f_or_values, splits, only)
    if f_or_values is None:
        return lambda f: _decorate(f, splits, only)
    names = _names(only)
    chosen = ... if names is None else tuple(names)
    return fork_rngs(f_or_values, split={chosen: splits})


def _decorate(
    f: Callable[..., Any], splits: int | tuple[int, ...], only: Any
) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _split((args, kwargs), splits, only):
            return f(*args, **kwargs)

    return wrapper
