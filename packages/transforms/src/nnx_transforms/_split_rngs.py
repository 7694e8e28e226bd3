"""nnx.split_rngs: give each index of a vmap or scan its own RNG keys.

Inside ``nnx.vmap`` every mapped copy of a module would otherwise draw the same key.
``split_rngs(splits=n)`` replaces each RNG stream's key in the arguments with ``n`` keys
(split from the stream's next key) and its count with ``n`` zeros, so mapping the
streams on axis 0 hands each copy a different key. As a decorator, the streams are
restored after the call, one key further on; after an error, exactly as they were.
Called on values (``backups = split_rngs(rngs, splits=5)``) it splits them in place and
returns the ``SplitBackups`` that ``nnx.restore_rngs`` (or a ``with`` block) puts back.
Without graph updates (``graph=False`` or ``graph_updates=False``), as in Flax NNX 0.12,
it returns a split copy instead (and hands the decorated function that copy); see
``nnx.fork_rngs``. ``squeeze=True`` with ``splits=1`` leaves one key of the usual shape.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import iter_graph, message, resolve_updates
from nnx_transforms._protocol import GRAPH_TYPES, tree_leaves
from nnx_variables import RngStream, fork_streams


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
def _split(
    values: Any, splits: int | tuple[int, ...], only: Any, squeeze: bool = False
) -> Iterator[None]:
    streams = _streams(values, only)
    saved = [(s, s.key.value, s.count.value) for s in streams]
    shape = (splits,) if isinstance(splits, int) else tuple(splits)
    for stream in streams:
        keys = jax.random.split(stream(), shape)
        stream.key.value = keys[0] if squeeze else keys
        stream.count.value = jnp.zeros(() if squeeze else shape, dtype=jnp.uint32)
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
    squeeze: bool = False,
    graph: bool | None = None,
    graph_updates: bool | None = None,
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
    >>> split_rngs(rngs, splits=2, graph=False).default.key.value.shape
    (2,)
    """
    if squeeze and splits != 1:
        raise ValueError(
            message(
                f"nnx.split_rngs: squeeze=True drops the split axis, so it needs splits=1, "
                f"got splits={splits!r}.",
                fix="nnx.split_rngs(splits=1, squeeze=True)  # or squeeze=False",
            )
        )
    options = (splits, only, squeeze, graph, graph_updates)
    if callable(f_or_values) and not isinstance(f_or_values, GRAPH_TYPES):
        return _decorate(f_or_values, *options)
    if f_or_values is None:
        return lambda f: _decorate(f, *options)
    return _fork(f_or_values, *options)


def _fork(
    values: Any,
    splits: int | tuple[int, ...],
    only: Any,
    squeeze: bool,
    graph: bool | None,
    graph_updates: bool | None,
) -> Any:
    names = _names(only)
    chosen = ... if names is None else tuple(names)
    return fork_streams(
        values,
        {chosen: splits},
        squeeze=squeeze,
        graph=graph,
        graph_updates=graph_updates,
        op="nnx.split_rngs",
    )


def _decorate(
    f: Callable[..., Any],
    splits: int | tuple[int, ...],
    only: Any,
    squeeze: bool,
    graph: bool | None,
    graph_updates: bool | None,
) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not resolve_updates(graph, graph_updates):
            args, kwargs = _fork((args, kwargs), splits, only, squeeze, graph, graph_updates)
            return f(*args, **kwargs)
        with _split((args, kwargs), splits, only, squeeze):
            return f(*args, **kwargs)

    return wrapper
