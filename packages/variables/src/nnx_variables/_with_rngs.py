"""nnx.with_rngs: a copy of a graph whose RNG streams are split, forked or broadcast.

What ``nnx.vmap`` needs for an ensemble or a stack of layers: a stream that yields one
key per member (``split``), independent from the original (``fork``), or the same key
for every member (``broadcast``). Each changed stream draws one key from the original,
which moves on by one; everything else in the copy is the original's own.

``graph=False`` (tree mode) refuses a graph that reaches an object or Variable by two
paths, naming both. ``graph_updates`` changes nothing: the result is always a copy.
Flax NNX 0.12 refuses the defaults (graph mode with graph updates) with
NotImplementedError; we give them the one meaning the function has.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp

from nnx_graph import Filter, check_tree, recursive_map, resolve_graph, to_predicate
from nnx_variables._rngs import RngStream

Sizes = int | tuple[int, ...]


def with_rngs(
    node: Any = None,
    /,
    *,
    split: Mapping[Filter, Sizes] | Sizes | None = None,
    fork: Filter | Sequence[Filter] | None = None,
    broadcast: Mapping[Filter, Sizes] | Sizes | None = None,
    only: Filter = True,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """A copy of ``node`` with its matching streams split, forked or broadcast.

    ``split`` and ``broadcast`` are a size (every stream) or ``{filter: size}``; ``fork``
    a filter or filters. The first rule that selects a stream (by the filters applied to
    its key, so a stream name selects by tag) decides. Without ``node``, a decorator
    applying the rules to a function's arguments.

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(params=0, dropout=1)
    >>> copy = with_rngs(rngs, split={'params': 4}, fork='dropout')
    >>> copy.params.key.shape, copy.dropout.key.shape, int(rngs.params.count.value)
    ((4,), (), 1)
    """
    rules = _rules(split, fork, broadcast)
    allowed = to_predicate(only)
    del graph_updates  # always a copy (see the module docstring)
    tree = not resolve_graph(graph)
    if node is None:
        return lambda f: _decorate(f, rules, allowed, tree)
    if tree:
        check_tree([node], ["node"], "nnx.with_rngs")
    return recursive_map(_replacer(rules, allowed), node)


Rules = list[tuple[Callable[..., bool], Callable[[RngStream], RngStream]]]


def _replacer(rules: Rules, allowed: Callable[..., bool]) -> Callable[[Any, Any], Any]:
    """The ``recursive_map`` function: the first matching rule makes a stream's copy."""

    def replace(path: tuple[Any, ...], value: Any) -> Any:
        if isinstance(value, RngStream) and allowed((*path, "key"), value.key):
            for predicate, make in rules:
                if predicate((*path, "key"), value.key):
                    return make(value)
        return value

    return replace


def _rules(
    split: Mapping[Filter, Sizes] | Sizes | None,
    fork: Filter | Sequence[Filter] | None,
    broadcast: Mapping[Filter, Sizes] | Sizes | None,
) -> Rules:
    rules: Rules = []
    for filter, size in _by_filter(split):
        rules.append((to_predicate(filter), functools.partial(_split, size=size)))
    if fork is not None:
        filters = fork if isinstance(fork, list | tuple) else [fork]
        rules.extend((to_predicate(f), _fork) for f in filters)
    for filter, size in _by_filter(broadcast):
        rules.append((to_predicate(filter), functools.partial(_broadcast, size=size)))
    return rules


def _split(stream: RngStream, size: Sizes) -> RngStream:
    return stream.split(size)


def _fork(stream: RngStream) -> RngStream:
    return stream.fork()


def _by_filter(sizes: Mapping[Filter, Sizes] | Sizes | None) -> list[tuple[Filter, Sizes]]:
    if sizes is None:
        return []
    if isinstance(sizes, Mapping):
        return list(sizes.items())
    return [(..., sizes)]


def _broadcast(stream: RngStream, size: Sizes) -> RngStream:
    shape = (size,) if isinstance(size, int) else tuple(size)
    key = stream()
    return RngStream(jnp.broadcast_to(key, shape), tag=stream.tag)


def _decorate(
    f: Callable[..., Any], rules: Rules, allowed: Callable[..., bool], tree: bool
) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if tree:
            check_tree([args, kwargs], ["args", "kwargs"], "nnx.with_rngs")
        args, kwargs = recursive_map(_replacer(rules, allowed), (args, kwargs))
        return f(*args, **kwargs)

    return wrapper
