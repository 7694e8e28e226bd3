"""nnx.fork_rngs: give the RNG streams of a graph fresh keys, in place, restorably.

Forking a stream replaces its key by one drawn from it (``split=n``: ``n`` keys) and its
count by zeros, so code run afterwards draws keys no other code will, while the
original stream state is kept in the returned ``SplitBackups``; ``restore_rngs`` (or
leaving the ``with`` block) puts it back, one key further on. As in Flax NNX 0.12, which
streams fork is chosen by filters applied to each stream's ``key`` Variable (so a stream
name like ``'dropout'`` selects by the key's tag).

Without graph updates (``graph=False`` or ``graph_updates=False``), as in Flax NNX 0.12,
nothing is replaced in place: the result is a copy of the node whose chosen streams hold
the forked keys, sharing every other Variable with the original (whose chosen streams
are one key further on). Tree mode also refuses a node that shares a reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jax

from nnx_graph import (
    Filter,
    check_tree,
    clone,
    iter_graph,
    resolve_graph,
    resolve_updates,
    to_predicate,
)
from nnx_variables._rngs import RngStream

Splits = int | tuple[int, ...] | None
_MISSING: Any = object()


class SplitBackups:
    """The stream states ``fork_rngs`` replaced: iterate them, or use as a ``with`` block.

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(0)
    >>> with fork_rngs(rngs, split=2):
    ...     rngs.default.key.shape
    (2,)
    >>> rngs.default.key.shape
    ()
    """

    __slots__ = ("backups",)

    def __init__(self, backups: list[tuple[RngStream, jax.Array, jax.Array]]) -> None:
        self.backups = backups

    def __iter__(self) -> Iterator[tuple[RngStream, jax.Array, jax.Array]]:
        return iter(self.backups)

    def __enter__(self) -> SplitBackups:
        return self

    def __exit__(self, *exc: object) -> None:
        restore_rngs(self)


def fork_rngs(
    node: Any = _MISSING,
    /,
    *,
    split: Mapping[Filter, Splits] | Splits = None,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """Fork the RNG streams of ``node`` in place, keeping what they held in the backups.

    Called without a node, it is a decorator that forks the streams in each call's
    arguments and restores them when the call returns.

    ``split`` is a number of keys (or a shape) for every stream, or a mapping from
    filters to those (``None``: fork without splitting); the first filter that selects a
    stream decides, and streams no filter selects are left alone. Without graph updates
    it returns a forked copy instead (see the module docstring).

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(params=0, dropout=1)
    >>> backups = fork_rngs(rngs, split={'dropout': 4})
    >>> rngs.dropout.key.shape, rngs.params.key.shape
    ((4,), ())
    >>> restore_rngs(backups)
    >>> rngs.dropout.key.shape
    ()
    >>> fork_rngs(rngs, split=2, graph_updates=False).dropout.key.shape
    (2,)
    """
    if node is _MISSING:
        return lambda f: _decorate(f, split, graph, graph_updates)
    return fork_streams(node, split, graph=graph, graph_updates=graph_updates)


def fork_streams(
    node: Any,
    split: Mapping[Filter, Splits] | Splits,
    *,
    squeeze: bool = False,
    graph: bool | None = None,
    graph_updates: bool | None = None,
    op: str = "nnx.fork_rngs",
) -> Any:
    """``fork_rngs`` on values; ``squeeze`` drops the axis of a one-key split (split_rngs)."""
    copy = not resolve_updates(graph, graph_updates)
    if copy and not resolve_graph(graph):
        check_tree([node], ["node"], op)  # walks tuples, lists and dicts of nodes too
    chosen = _chosen_streams(node, split)
    for _, stream, _ in chosen:  # validate before mutating: all or nothing
        stream.key.check_trace()
    forked = [
        (path, stream, _squeezed(stream.fork(split=n), squeeze)) for path, stream, n in chosen
    ]
    if copy:
        result = clone(node, variables=False)
        new_streams = dict(iter_graph(result))
        for path, _, new in forked:
            target = new_streams[path]
            target.key, target.count = new.key, new.count
        return result
    backups = []
    for _, stream, new in forked:
        backups.append((stream, stream.key.get_value(), stream.count.get_value()))
        stream.key.set_value(new.key.get_value())
        stream.count.set_value(new.count.get_value())
    return SplitBackups(backups)


def _chosen_streams(
    node: Any, split: Mapping[Filter, Splits] | Splits
) -> list[tuple[Any, RngStream, Splits]]:
    sizes = split if isinstance(split, Mapping) else {...: split}
    predicates = [(to_predicate(f), n) for f, n in sizes.items()]
    chosen: list[tuple[Any, RngStream, Splits]] = []
    for path, stream in iter_graph(node):
        if not isinstance(stream, RngStream):
            continue
        for predicate, n in predicates:
            if predicate((*path, "key"), stream.key) and predicate((*path, "count"), stream.count):
                chosen.append((path, stream, n))
                break
    return chosen


def _squeezed(stream: RngStream, squeeze: bool) -> RngStream:
    if squeeze:
        stream.key.set_value(stream.key.get_value()[0])
        stream.count.set_value(stream.count.get_value()[0])
    return stream


def restore_rngs(backups: Iterable[tuple[RngStream, jax.Array, jax.Array]], /) -> None:
    """Put back the stream states that ``fork_rngs`` replaced (see ``SplitBackups``)."""
    for stream, key, count in backups:
        stream.key.set_value(key)
        stream.count.set_value(count)


def _decorate(
    f: Callable[..., Any],
    split: Mapping[Filter, Splits] | Splits,
    graph: bool | None,
    graph_updates: bool | None,
) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not resolve_updates(graph, graph_updates):
            args, kwargs = fork_rngs((args, kwargs), split=split, graph=graph, graph_updates=False)
            return f(*args, **kwargs)
        with fork_rngs((args, kwargs), split=split):
            return f(*args, **kwargs)

    return wrapper
