"""State: the values of a graph, as a nested mapping addressed by attribute path.

``state['linear1']['kernel']`` and ``state.linear1.kernel`` reach the same entry. A State
is a pytree whose leaves are the arrays (inside VariableStates), so it crosses any JAX
boundary; ``merge`` and ``update`` put it back into objects.

Internally a State wraps one nested dict; indexing returns a State view of the sub-dict
rather than a copy, so reading paths costs nothing and writes go where they look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import jax
import numpy as np

from nnx_graph._errors import FilterError, StateMismatchError, describe, message, path_problem
from nnx_graph._filters import (
    Filter,
    filters_cover_everything,
    to_predicate,
    warn_unmatched_names,
)
from nnx_graph._flat_state import FlatState
from nnx_graph._paths import Path, PathKey, format_path
from nnx_graph._variable import Variable
from nnx_graph._variable_state import VariableState


class State(MutableMapping[PathKey, Any]):
    """A nested mapping from attribute names to VariableStates (or arrays).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable, VariableState
    >>> state = State({'linear': {'w': VariableState(Variable, jnp.ones(2))}})
    >>> state.linear.w.value.shape, state.flat_state().paths
    ((2,), (('linear', 'w'),))
    """

    __slots__ = ("_mapping",)
    _mapping: dict[PathKey, Any]

    def __init__(self, mapping: Mapping[PathKey, Any] | None = None) -> None:
        object.__setattr__(self, "_mapping", _to_nested_dict(mapping or {}))

    @classmethod
    def wrap(cls, nested: dict[PathKey, Any]) -> State:
        """A State over ``nested`` without copying it (the dict must hold no States)."""
        state = object.__new__(cls)
        object.__setattr__(state, "_mapping", nested)
        return state

    @property
    def raw_mapping(self) -> dict[PathKey, Any]:
        """The nested dict behind this State (shared, not copied)."""
        return self._mapping

    # -- mapping protocol --------------------------------------------------------------

    def __getitem__(self, key: PathKey) -> Any:
        value = self._mapping[key]
        return State.wrap(value) if type(value) is dict else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        mapping = object.__getattribute__(self, "_mapping")
        if name not in mapping:
            raise AttributeError(
                f"State has no entry {name!r}; entries: {', '.join(map(repr, mapping))}"
            )
        value = mapping[name]
        return State.wrap(value) if type(value) is dict else value

    def __setitem__(self, key: PathKey, value: Any) -> None:
        self._mapping[key] = _to_nested_dict(value) if isinstance(value, Mapping) else value

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delitem__(self, key: PathKey) -> None:
        del self._mapping[key]

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        mine, theirs = self.flat_dict(), State(other).flat_dict()
        return mine.keys() == theirs.keys() and all(
            _leaves_equal(mine[path], theirs[path]) for path in mine
        )

    __hash__ = None  # type: ignore[assignment]

    # -- flat views --------------------------------------------------------------------

    def flat_state(self) -> FlatState:
        """Every leaf with its full path, as ``(path, leaf)`` pairs in traversal order."""
        return FlatState(self.flat_dict())

    def flat_dict(self) -> dict[Path, Any]:
        """Every leaf keyed by its full path, in traversal order."""
        flat: dict[Path, Any] = {}
        _flatten_into(self._mapping, (), flat)
        return flat

    @classmethod
    def from_flat_path(cls, flat: Mapping[Path, Any] | Any) -> State:
        """Build a State from ``{path: leaf}`` (or an iterable of ``(path, leaf)``)."""
        items = flat.items() if isinstance(flat, Mapping) else flat
        root: dict[PathKey, Any] = {}
        for path, leaf in items:
            node = root
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = leaf
        return cls.wrap(root)

    # -- filtering ---------------------------------------------------------------------

    def split(self, first: Filter, /, *filters: Filter) -> Any:
        """Partition into one State per filter; every leaf must match one of them."""
        all_filters = (first, *filters)
        flat = self.flat_dict()
        parts = partition(flat, all_filters, op="State.split", root="state")
        warn_unmatched_names(
            flat, all_filters, parts, op="State.split", call="state.split(", root="state"
        )
        states = tuple(State.from_flat_path(part) for part in parts)
        return states[0] if len(states) == 1 else states

    def filter(self, first: Filter, /, *filters: Filter) -> Any:
        """The leaves matching each filter (not necessarily all of them)."""
        all_filters = (first, *filters)
        parts = partition(
            self.flat_dict(), all_filters, op="State.filter", root="state", drop_rest=True
        )
        states = tuple(State.from_flat_path(part) for part in parts)
        return states[0] if len(states) == 1 else states

    @staticmethod
    def merge(state: State, /, *states: State) -> State:
        """Combine States into one; later States win where paths coincide."""
        flat: dict[Path, Any] = {}
        for part in (state, *states):
            flat.update(part.flat_dict())
        return State.from_flat_path(flat)

    # -- pure dicts --------------------------------------------------------------------

    def to_pure_dict(self, extract_fn: Callable[[Any], Any] | None = None) -> dict[PathKey, Any]:
        """A nested dict of plain values: VariableStates replaced by their values.

        ``extract_fn`` picks what to keep from each leaf instead of its value.
        """
        if extract_fn is None:
            return _map_nested(
                self._mapping, lambda leaf: leaf.value if isinstance(leaf, VariableState) else leaf
            )
        return _map_nested(self._mapping, extract_fn)

    def replace_by_pure_dict(
        self,
        pure_dict: Mapping[PathKey, Any],
        replace_fn: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        """Overwrite values in place from a nested dict shaped like ``to_pure_dict()``.

        Every path in ``pure_dict`` must exist in this State; the error lists those that
        do not, and nothing is written unless all of them fit.
        """
        flat = self.flat_dict()
        updates = _restore_index_keys(State(pure_dict).flat_dict(), flat)
        unknown = [path for path in updates if path not in flat]
        if unknown:
            raise StateMismatchError(
                message(
                    "State.replace_by_pure_dict got paths that are not in the State.",
                    [path_problem(p, updates[p], root="pure_dict") for p in unknown],
                    expected=f"paths among: {', '.join(format_path(p, 'state') for p in flat)}",
                    fix="build the dict from state.to_pure_dict() and change values only",
                )
            )
        for path, value in updates.items():
            node = self._mapping
            for key in path[:-1]:
                node = node[key]
            old = node[path[-1]]
            if replace_fn is not None:
                node[path[-1]] = replace_fn(old, value)
            elif isinstance(old, VariableState):
                node[path[-1]] = old.replace(value)
            else:
                node[path[-1]] = value

    def __repr__(self) -> str:
        return f"State({_repr_nested(self._mapping, 1)})"


def partition(
    flat: Mapping[Path, Any],
    filters: tuple[Filter, ...],
    *,
    op: str,
    root: str,
    drop_rest: bool = False,
) -> list[dict[Path, Any]]:
    """Split a flat mapping by filters (first match wins); raise if anything is left over.

    With ``drop_rest``, what no filter matches is dropped instead (``nnx.state``'s filters
    select, they need not cover everything).
    """
    _check_catch_all_is_last(filters, op=op, root=root)
    if drop_rest:
        return _partition(flat, (*filters, ...), op=op, root=root)[:-1]
    return _partition(flat, filters, op=op, root=root)


def _partition(
    flat: Mapping[Path, Any], filters: tuple[Filter, ...], *, op: str, root: str
) -> list[dict[Path, Any]]:
    predicates = [to_predicate(f) for f in filters]
    parts: list[dict[Path, Any]] = [{} for _ in predicates]
    leftover = []
    for path, leaf in flat.items():
        for predicate, part in zip(predicates, parts, strict=True):
            if predicate(path, leaf):
                part[path] = leaf
                break
        else:
            leftover.append((path, leaf))
    if leftover and not filters_cover_everything(filters):
        raise FilterError(
            message(
                f"{op}: the filters ({_filters_repr(filters)}) do not match every value.",
                [
                    path_problem(p, v.value if isinstance(v, VariableState) else v, root, _kind(v))
                    for p, v in leftover
                ],
                expected="filters that together cover every Variable",
                fix=f"add `...` as the last filter to catch the rest: "
                f"{_call_repr(op, root)}{_filters_repr(filters)}, ...)",
            )
        )
    return parts


def _check_catch_all_is_last(filters: tuple[Filter, ...], *, op: str, root: str) -> None:
    """Refuse ``...``/``True`` before the last filter: it would take everything, silently."""
    for position, filter in enumerate(filters[:-1]):
        if filter is Ellipsis or filter is True:
            rest = [f for f in filters if f is not filter]
            raise FilterError(
                message(
                    f"{op}: the catch-all filter {'...' if filter is Ellipsis else 'True'} is "
                    f"filter {position} of {len(filters)}, so it would take every value and "
                    "leave the filters after it empty.",
                    [f"filters: ({_filters_repr(filters)})"],
                    expected="a catch-all (`...` or `True`) only as the last filter",
                    fix=f"move it last: {_call_repr(op, root)}{_filters_repr((*rest, ...))})",
                )
            )


def _call_repr(op: str, root: str) -> str:
    """How the user spells the failed call: ``nnx.split(model, `` or ``state.split(``."""
    if op.startswith("State."):
        return f"{root}.{op.removeprefix('State.')}("
    return f"{op}({root}, "


def _kind(leaf: Any) -> str:
    return leaf.type.__name__ if isinstance(leaf, VariableState) else "bare array"


def _filters_repr(filters: tuple[Filter, ...]) -> str:
    return ", ".join("..." if f is Ellipsis else getattr(f, "__name__", repr(f)) for f in filters)


def _restore_index_keys(updates: dict[Path, Any], flat: Mapping[Path, Any]) -> dict[Path, Any]:
    """Turn ``'0'`` back into ``0`` where the State has an index there.

    A pure dict that went through a checkpoint (orbax, JSON) comes back with list indices
    as strings; the State's own paths say which keys were integers.
    """
    if all(path in flat for path in updates):
        return updates
    prefixes = {path[:end] for path in flat for end in range(1, len(path) + 1)}
    restored: dict[Path, Any] = {}
    for path, value in updates.items():
        fixed: Path = ()
        for key in path:
            candidate = (*fixed, key)
            if candidate not in prefixes and isinstance(key, str) and key.lstrip("-").isdigit():
                as_index = (*fixed, int(key))
                candidate = as_index if as_index in prefixes else candidate
            fixed = candidate
        restored[fixed] = value
    return restored


def _to_nested_dict(mapping: Mapping[PathKey, Any]) -> dict[PathKey, Any]:
    return {
        key: _to_nested_dict(value) if isinstance(value, Mapping) else value
        for key, value in mapping.items()
    }


def _flatten_into(node: dict[PathKey, Any], prefix: Path, flat: dict[Path, Any]) -> None:
    for key, value in node.items():
        if type(value) is dict:
            _flatten_into(value, (*prefix, key), flat)
        else:
            flat[(*prefix, key)] = value


def _map_nested(node: dict[PathKey, Any], fn: Callable[[Any], Any]) -> dict[PathKey, Any]:
    return {
        key: _map_nested(value, fn) if type(value) is dict else fn(value)
        for key, value in node.items()
    }


def _repr_nested(node: dict[PathKey, Any], depth: int) -> str:
    if not node:
        return "{}"
    pad = "  " * depth
    lines = []
    for key, value in node.items():
        body = _repr_nested(value, depth + 1) if type(value) is dict else repr(value)
        lines.append(f"{pad}{key!r}: {body}")
    return "{\n" + ",\n".join(lines) + "\n" + "  " * (depth - 1) + "}"


# Nested levels are flattened as States, not handed to jax as plain dicts: jax sorts a
# dict's keys and fails on a mix of ints and strs (a dict attribute {0: ..., 'head': ...}),
# while ``_sorted_keys`` falls back to insertion order, as ``flatten`` does for the graph.
def _child(value: Any) -> Any:
    return State.wrap(value) if type(value) is dict else value


def _state_flatten_with_keys(
    state: State,
) -> tuple[list[tuple[jax.tree_util.DictKey, Any]], tuple[PathKey, ...]]:
    keys = _sorted_keys(state._mapping)
    return [(jax.tree_util.DictKey(k), _child(state._mapping[k])) for k in keys], keys


def _state_flatten(state: State) -> tuple[list[Any], tuple[PathKey, ...]]:
    keys = _sorted_keys(state._mapping)
    return [_child(state._mapping[k]) for k in keys], keys


def _state_unflatten(keys: tuple[PathKey, ...], children: Any) -> State:
    return State.wrap(
        {
            key: child._mapping if isinstance(child, State) else child
            for key, child in zip(keys, children, strict=True)
        }
    )


def _sorted_keys(mapping: dict[PathKey, Any]) -> tuple[PathKey, ...]:
    try:
        return tuple(sorted(mapping))  # type: ignore[type-var]
    except TypeError:
        return tuple(mapping)


jax.tree_util.register_pytree_with_keys(
    State, _state_flatten_with_keys, _state_unflatten, _state_flatten
)


def _leaves_equal(a: Any, b: Any) -> bool:
    """Leaves compare by kind, metadata and value (a Variable's ``==`` is elementwise)."""
    if a is b:
        return True
    if isinstance(a, Variable) or isinstance(b, Variable):
        return (
            type(a) is type(b) and a._metadata == b._metadata and _values_equal(a._value, b._value)
        )
    return _values_equal(a, b)


def _values_equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return bool(a == b)


def to_pure_dict(
    state: State, extract_fn: Callable[[Any], Any] | None = None
) -> dict[PathKey, Any]:
    """``state.to_pure_dict()`` as a function (flax's spelling).

    >>> from nnx_graph import Variable
    >>> to_pure_dict(State({'w': Variable(1.0)}))
    {'w': 1.0}
    """
    return state.to_pure_dict(extract_fn)


def replace_by_pure_dict(
    state: State,
    pure_dict: Mapping[PathKey, Any],
    replace_fn: Callable[[Any, Any], Any] | None = None,
) -> None:
    """``state.replace_by_pure_dict(pure_dict)`` as a function (flax's spelling).

    >>> from nnx_graph import Variable
    >>> state = State({'layers': {0: {'w': Variable(1.0)}}})
    >>> replace_by_pure_dict(state, {'layers': {'0': {'w': 2.0}}})  # orbax's string indices
    >>> state['layers'][0]['w'].value
    2.0
    """
    state.replace_by_pure_dict(pure_dict, replace_fn)


def flat_state_of(state: Any, op: str) -> dict[Path, Any]:
    """``{path: leaf}`` of a State, a plain nested dict or a FlatState; else a TypeError."""
    if isinstance(state, State):
        return state.flat_dict()
    if isinstance(state, dict):
        return State(state).flat_dict()
    if isinstance(state, FlatState):
        return dict(state)
    raise TypeError(
        message(
            f"{op} expected States, got {describe(state)}.",
            fix="use the States returned by nnx.split or nnx.state",
        )
    )
