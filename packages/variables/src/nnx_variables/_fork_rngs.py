"""nnx.fork_rngs: give the RNG streams of a graph fresh keys, in place, restorably.

Forking a stream replaces its key by one drawn from it (``split=n``: ``n`` keys) and its
count by zeros, so code run afterwards draws keys no other code will, while the
original stream state is kept in the returned ``SplitBackups``; ``restore_rngs`` (or
leaving the ``with`` block) puts it back, one key further on. As in Flax NNX 0.12, which
streams fork is chosen by filters applied to each stream's ``key`` Variable (so a stream
name like ``'dropout'`` selects by the key's tag).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jax

from nnx_graph import Filter, iter_graph, to_predicate
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


def fork_rngs(node: Any = _MISSING, /, *, split: Mapping[Filter, Splits] | Splits = None) -> Any:
    """Fork the RNG streams of ``node`` in place, keeping what they held in the backups.

    Called without a node, it is a decorator that forks the streams in each call's
    arguments and restores them when the call returns.

    ``split`` is a number of keys (or a shape) for every stream, or a mapping from
    filters to those (``None``: fork without splitting); the first filter that selects a
    stream decides, and streams no filter selects are left alone.

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(params=0, dropout=1)
    >>> backups = fork_rngs(rngs, split={'dropout': 4})
    >>> rngs.dropout.key.shape, rngs.params.key.shape
    ((4,), ())
    >>> restore_rngs(backups)
    >>> rngs.dropout.key.shape
    ()
    """
    if node is _MISSING:
        return lambda f: _decorate(f, split)
    sizes = split if isinstance(split, Mapping) else {...: split}
    predicates = [(to_predicate(f), n) for f, n in sizes.items()]
    chosen: list[tuple[RngStream, Splits]] = []
    for path, stream in iter_graph(node):
        if not isinstance(stream, RngStream):
            continue
        for predicate, n in predicates:
            if predicate((*path, "key"), stream.key) and predicate((*path, "count"), stream.count):
                chosen.append((stream, n))
                break
    for stream, _ in chosen:  # validate before mutating: all or nothing
        stream.key.check_trace()
    backups = []
    for stream, n in chosen:
        forked = stream.fork(split=n)
        backups.append((stream, stream.key.get_value(), stream.count.get_value()))
        stream.key.set_value(forked.key.get_value())
        stream.count.set_value(forked.count.get_value())
    return SplitBackups(backups)


def restore_rngs(backups: Iterable[tuple[RngStream, jax.Array, jax.Array]], /) -> None:
    """Put back the stream states that ``fork_rngs`` replaced (see ``SplitBackups``)."""
    for stream, key, count in backups:
        stream.key.set_value(key)
        stream.count.set_value(count)


def _decorate(f: Callable[..., Any], split: Mapping[Filter, Splits] | Splits) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fork_rngs((args, kwargs), split=split):
            return f(*args, **kwargs)

    return wrapper
