"""flax's function spellings of State operations, and pure trees without Variables.

``nnx.split_state(state, Param, ...)``, ``nnx.filter_state``, ``nnx.merge_state`` and
``nnx.map_state`` are what flax code calls where ours might write ``state.split(...)``;
they partition with the same filters and raise the same errors as the methods.
Like flax's, the functions that walk a State (split, filter, map) visit its paths in
sorted order (integer keys before names where a level has both, where flax's sort
raises) and build their results in that order; ``merge_state`` keeps the order in
which the paths first appear.

``as_pure`` (flax 0.10's ``pure``) replaces every Variable of a tree by its raw value,
for exporting or serializing a State without its metadata; ``restore_int_paths`` undoes
what a checkpoint does to integer keys (``{'layers': {'0': ...}}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import jax

from nnx_graph._filters import Filter, warn_unmatched_names
from nnx_graph._flat_state import FlatState
from nnx_graph._paths import Path, PathKey
from nnx_graph._state import State, flat_state_of, partition
from nnx_graph._variable import Variable

A = TypeVar("A")


@overload
def split_state(state: State, first: Filter, /) -> State: ...
@overload
def split_state(
    state: State, first: Filter, second: Filter, /, *filters: Filter
) -> tuple[State, ...]: ...
def split_state(state: State, first: Filter, /, *filters: Filter) -> State | tuple[State, ...]:
    """Partition ``state`` into one State per filter; together they must take every leaf.

    A leaf goes to the first filter that matches it. One filter gives one State, more
    give a tuple; what no filter matches is an error naming each leftover path (end with
    ``...`` to collect the rest). The leaves are shared, not copied.

    >>> from nnx_graph import Variable
    >>> class Stat(Variable):
    ...     pass
    >>> state = State({'w': Variable(1.0), 'mean': Stat(0.5)})
    >>> stats, rest = split_state(state, Stat, ...)
    >>> list(stats), list(rest)
    (['mean'], ['w'])
    """
    all_filters = (first, *filters)
    flat = _sorted(flat_state_of(state, "nnx.split_state"))
    parts = partition(flat, all_filters, op="nnx.split_state", root="state")
    warn_unmatched_names(
        flat, all_filters, parts, op="nnx.split_state", call="nnx.split_state(state, ", root="state"
    )
    return _one_or_tuple(parts)


@overload
def filter_state(state: State, first: Filter, /) -> State: ...
@overload
def filter_state(
    state: State, first: Filter, second: Filter, /, *filters: Filter
) -> tuple[State, ...]: ...
def filter_state(state: State, first: Filter, /, *filters: Filter) -> State | tuple[State, ...]:
    """The leaves of ``state`` each filter selects; unlike ``split_state``, not all of them.

    A leaf goes to the first filter that matches it, and leaves no filter matches are
    left out. One filter gives one State, more give a tuple.

    >>> from nnx_graph import Variable
    >>> class Stat(Variable):
    ...     pass
    >>> filter_state(State({'w': Variable(1.0), 'mean': Stat(0.5)}), Stat)
    State({
      'mean': Stat(value=0.5)
    })
    """
    flat = _sorted(flat_state_of(state, "nnx.filter_state"))
    parts = partition(flat, (first, *filters), op="nnx.filter_state", root="state", drop_rest=True)
    return _one_or_tuple(parts)


def merge_state(
    state: Mapping[PathKey, Any], /, *states: Mapping[PathKey, Any], cls: type[State] = State
) -> State:
    """One State holding the leaves of all of them: the inverse of ``split_state``.

    Where two States have the same path the later one wins, also when one has a leaf
    and the other a nested level there. Plain nested dicts are accepted as States; a
    single State is returned as it is. The leaves are shared, not copied.

    >>> from nnx_graph import Variable
    >>> merged = merge_state(State({'a': {'w': Variable(1.0)}}), {'a': {'b': Variable(2.0)}})
    >>> merged.flat_state().paths
    (('a', 'w'), ('a', 'b'))
    """
    if not states:
        return state if isinstance(state, cls) else cls(state)
    flat: dict[Path, Any] = {}
    for part in (state, *states):
        flat.update(flat_state_of(part, "nnx.merge_state"))
    return cls.wrap(_nest(flat))


def map_state(f: Callable[[Path, Any], Any], state: State) -> State:
    """A new State holding ``f(path, leaf)`` for every leaf, at the same paths.

    ``f`` sees each path as a tuple of keys and each leaf as it is in the State (the
    model's Variable, for a State from ``nnx.state``), in sorted path order.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> state = State({'w': Variable(jnp.ones((2, 3))), 'b': Variable(jnp.ones(3))})
    >>> map_state(lambda path, leaf: leaf.shape, state)
    State({
      'b': (3,),
      'w': (2, 3)
    })
    """
    flat = _sorted(flat_state_of(state, "nnx.map_state"))
    return State.from_flat_path([(path, f(path, leaf)) for path, leaf in flat.items()])


def as_pure(tree: A) -> A:
    """A new tree with every Variable replaced by its raw value (metadata dropped).

    Works on any pytree: a State gives a State of arrays, a dict a dict, a Module a
    Module whose attributes hold arrays. A Variable whose value holds Variables is made
    pure all the way down, and a ``jax.Ref`` is read.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> as_pure(State({'w': Variable(jnp.ones(2)), 'step': Variable(3)}))
    State({
      'step': 3,
      'w': Array([1., 1.], dtype=float32)
    })
    """

    def pure_leaf(leaf: Any) -> Any:
        if isinstance(leaf, Variable):
            return as_pure(leaf.get_raw_value())
        if isinstance(leaf, jax.Ref):
            return leaf[...]
        return leaf

    return jax.tree.map(pure_leaf, tree, is_leaf=lambda x: isinstance(x, Variable))  # type: ignore[no-any-return]


def pure(tree: A) -> A:
    """``as_pure(tree)`` under flax 0.10's name (flax 0.12 deprecates it; here it stays).

    >>> from nnx_graph import Variable
    >>> pure({'w': Variable(1.0), 'n': [Variable(2), 3]})
    {'n': [2, 3], 'w': 1.0}
    """
    return as_pure(tree)


_INDEX = re.compile(r"-?[0-9]+")


def restore_int_paths(pure_dict: Mapping[PathKey, Any]) -> dict[PathKey, Any]:
    """A copy of a nested dict with every key spelled as an integer (``'0'``) made an int.

    A checkpoint (orbax, JSON) stores keys as strings, so the list indices of
    ``nnx.to_pure_dict(state)`` come back as ``'0'``, ``'1'``; this turns them back, at
    every level, so the dict matches the State's paths again. Only keys written as an
    optional ``-`` and ASCII digits are converted, which is every key ``str(int)`` gives;
    flax also converts what Python's ``int`` accepts (``' 3'``, ``'1_0'``). As in flax,
    empty nested dicts are dropped.

    >>> restore_int_paths({'layers': {'0': {'w': 1.0}, '1': {'w': 2.0}}, 'head': {'b': 0.0}})
    {'layers': {0: {'w': 1.0}, 1: {'w': 2.0}}, 'head': {'b': 0.0}}
    """
    flat = State(pure_dict).flat_dict()
    restored: dict[Path, Any] = {}
    for path, value in flat.items():
        restored[tuple(_as_index(key) for key in path)] = value
    return _nest(restored)


def _as_index(key: PathKey) -> PathKey:
    if isinstance(key, str) and _INDEX.fullmatch(key):
        return int(key)
    return key


def _sorted(flat: dict[Path, Any]) -> dict[Path, Any]:
    """``flat`` in path order, as flax walks a State (ints before names where both occur)."""
    return dict(FlatState(flat, sort=True))


def _nest(flat: Mapping[Path, Any]) -> dict[PathKey, Any]:
    """Nested dicts from ``{path: leaf}``; a later entry wins over a leaf or a level."""
    root: dict[PathKey, Any] = {}
    for path, leaf in flat.items():
        node = root
        for key in path[:-1]:
            child = node.get(key)
            if type(child) is not dict:
                child = node[key] = {}
            node = child
        node[path[-1]] = leaf
    return root


def _one_or_tuple(parts: list[dict[Path, Any]]) -> State | tuple[State, ...]:
    states = tuple(State.from_flat_path(part) for part in parts)
    return states[0] if len(states) == 1 else states
