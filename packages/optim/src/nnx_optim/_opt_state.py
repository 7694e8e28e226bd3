"""The optax state as an Optimizer stores it: optax's own tree, with Variables as leaves.

``optimizer.opt_state`` is the tree ``tx.init`` built (``opt_state[0].mu['kernel']`` for
Adam), so ``nnx.state(optimizer)`` has the paths flax gives it and code indexing it,
partition specs and checkpoints line up. Every leaf is an ``OptState`` Variable, and
every dict in it (the parameter-shaped levels) is stored as a ``FrozenDict``: a mapping
that cannot change after it is built, which lets the transforms' fast path skip checking
it on every call, as it does for tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax

from nnx_graph import State, Variable


class FrozenDict(tuple[Any, ...]):
    """An immutable mapping (a tuple of its values, with its keys alongside).

    ``frozen['kernel']`` and ``frozen.kernel`` read an entry; ``keys()``, ``items()`` and
    ``in`` work as on a dict. Iterating gives the keys. It is a jax pytree with
    ``DictKey`` paths, so ``nnx.state(optimizer)`` names ``mu.kernel`` as flax does.

    >>> frozen = FrozenDict({'b': 2, 'a': 1})
    >>> frozen['a'], frozen.b, list(frozen)
    (1, 2, ['a', 'b'])
    """

    _keys: tuple[Any, ...]

    def __new__(cls, mapping: Mapping[Any, Any]) -> FrozenDict:
        keys = _ordered_keys(mapping)
        new = super().__new__(cls, tuple(mapping[k] for k in keys))
        new._keys = keys
        return new

    def __getitem__(self, key: Any) -> Any:
        try:
            return tuple.__getitem__(self, self._keys.index(key))
        except ValueError:
            raise KeyError(key) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"FrozenDict has no entry {name!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def keys(self) -> tuple[Any, ...]:
        return self._keys

    def values(self) -> tuple[Any, ...]:
        return tuple(tuple.__iter__(self))

    def items(self) -> list[tuple[Any, Any]]:
        return list(zip(self._keys, tuple.__iter__(self), strict=True))

    def __repr__(self) -> str:
        return "FrozenDict({" + ", ".join(f"{k!r}: {v!r}" for k, v in self.items()) + "})"

    def __reduce__(self) -> Any:
        return FrozenDict, (dict(self.items()),)


def _ordered_keys(mapping: Mapping[Any, Any]) -> tuple[Any, ...]:
    """The order jax flattens a dict in (sorted), else insertion order (mixed keys)."""
    try:
        return tuple(sorted(mapping))
    except TypeError:
        return tuple(mapping)


Mapping.register(FrozenDict)  # read as a mapping (display, State conversion), never written
jax.tree_util.register_pytree_with_keys(
    FrozenDict,
    lambda f: ([(jax.tree_util.DictKey(k), v) for k, v in f.items()], f.keys()),
    lambda keys, values: FrozenDict(dict(zip(keys, values, strict=True))),
    lambda f: (f.values(), f.keys()),
)


def store(tree: Any, make_leaf: Callable[[Any, Any], Variable[Any]]) -> Any:
    """``tree`` with each leaf ``x`` at ``path`` as ``make_leaf(path, x)``, dicts frozen."""
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = [make_leaf(path, leaf) for path, leaf in with_paths]
    return _freeze(jax.tree_util.tree_unflatten(treedef, leaves))


def _freeze(node: Any) -> Any:
    def freeze_level(x: Any) -> Any:
        if isinstance(x, dict | State):
            return FrozenDict({k: _freeze(v) for k, v in x.items()})
        return x

    return jax.tree_util.tree_map(
        freeze_level, node, is_leaf=lambda x: isinstance(x, dict | State | Variable)
    )


def variables(stored: Any) -> list[Variable[Any]]:
    """The OptState Variables of a stored tree, in optax's leaf order."""
    return jax.tree_util.tree_leaves(stored, is_leaf=lambda x: isinstance(x, Variable))
