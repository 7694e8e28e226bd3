"""Filters: the small language that selects parts of a graph's state.

A filter is anything ``to_predicate`` accepts, turned into a predicate
``(path, value) -> bool`` where ``value`` is a Variable, a VariableState, an array or a
node. Variable kinds are the common case (``nnx.Param``); the rest combine them.

>>> import jax.numpy as jnp
>>> from nnx_graph import Variable
>>> class Param(Variable): pass
>>> is_param = to_predicate(Param)
>>> is_param(('w',), Param(jnp.ones(1))), is_param(('w',), Variable(jnp.ones(1)))
(True, False)
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, TypeAlias

from nnx_graph._paths import Path
from nnx_graph._variable import Variable, VariableState

Predicate: TypeAlias = Callable[[Path, Any], bool]
Filter: TypeAlias = Any  # a type, str, tuple/list of filters, ..., bool, None or a callable


def _kind(value: Any) -> Any:
    return value.type if isinstance(value, VariableState) else type(value)


class OfType:
    """Matches Variables (or VariableStates) of a kind or its subclasses; or values of a type."""

    def __init__(self, type: builtins.type) -> None:
        self.type = type

    def __call__(self, path: Path, value: Any) -> bool:
        kind = _kind(value)
        return isinstance(kind, builtins.type) and issubclass(kind, self.type)

    def __repr__(self) -> str:
        return f"OfType({self.type.__name__})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OfType) and other.type is self.type

    def __hash__(self) -> int:
        return hash((OfType, self.type))


class WithTag:
    """Matches Variables whose ``tag`` metadata equals ``tag``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, path: Path, value: Any) -> bool:
        metadata = getattr(value, "metadata", None) if isinstance(value, VariableState) else None
        if isinstance(value, Variable):
            metadata = value.get_metadata()
        return bool(metadata) and metadata.get("tag") == self.tag  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"WithTag({self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WithTag) and other.tag == self.tag

    def __hash__(self) -> int:
        return hash((WithTag, self.tag))


class PathContains:
    """Matches values whose path contains ``key`` (an attribute name, dict key or index)."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __call__(self, path: Path, value: Any) -> bool:
        return self.key in path

    def __repr__(self) -> str:
        return f"PathContains({self.key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathContains) and other.key == self.key

    def __hash__(self) -> int:
        return hash((PathContains, self.key))


class _Combinator:
    def __init__(self, *filters: Filter) -> None:
        self.filters = filters
        self.predicates = tuple(to_predicate(f) for f in filters)

    def __repr__(self) -> str:
        name = type(self).__name__.rstrip("_")
        return f"{name}({', '.join(map(repr, self.filters))})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Combinator)
            and type(other) is type(self)
            and other.filters == self.filters
        )

    def __hash__(self) -> int:
        return hash((type(self), self.filters))


class Any_(_Combinator):
    """Matches when any of the filters matches (exported as ``Any``)."""

    def __call__(self, path: Path, value: Any) -> bool:
        return any(p(path, value) for p in self.predicates)


class All(_Combinator):
    """Matches when every one of the filters matches."""

    def __call__(self, path: Path, value: Any) -> bool:
        return all(p(path, value) for p in self.predicates)


class Not(_Combinator):
    """Matches what the filter does not."""

    def __init__(self, filter: Filter) -> None:
        super().__init__(filter)

    def __call__(self, path: Path, value: Any) -> bool:
        return not self.predicates[0](path, value)


class Everything:
    """Matches everything."""

    def __call__(self, path: Path, value: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return "Everything()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Everything)

    def __hash__(self) -> int:
        return hash(Everything)


class Nothing:
    """Matches nothing."""

    def __call__(self, path: Path, value: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return "Nothing()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Nothing)

    def __hash__(self) -> int:
        return hash(Nothing)


def to_predicate(filter: Filter) -> Predicate:
    """Turn any filter into a predicate ``(path, value) -> bool``.

    Accepted: a type (matches that kind and its subclasses), a string (``tag``
    metadata), a tuple or list (any of them), ``...`` or ``True`` (everything),
    ``None`` or ``False`` (nothing), or a callable ``(path, value) -> bool``.
    """
    if isinstance(filter, type):
        return OfType(filter)
    if isinstance(filter, str):
        return WithTag(filter)
    if filter is Ellipsis or filter is True:
        return Everything()
    if filter is None or filter is False:
        return Nothing()
    if isinstance(filter, tuple | list):
        return Any_(*filter)
    if callable(filter):
        return filter  # type: ignore[no-any-return]
    raise TypeError(
        f"Invalid filter {filter!r} of type {type(filter).__name__}. Expected a Variable "
        "type, a string tag, a tuple/list of filters, ..., True, False, None or a "
        "callable (path, value) -> bool; e.g. nnx.split(model, nnx.Param, ...)"
    )


def filters_cover_everything(filters: tuple[Filter, ...]) -> bool:
    """Whether the last filter trivially matches all (lets split skip the leftover check)."""
    return bool(filters) and (filters[-1] is Ellipsis or filters[-1] is True)
