"""Functions as static attributes, compared by what they compute rather than by identity.

A GraphDef keys jax.jit's cache, so two models whose GraphDefs are equal share one
compiled step. Functions are static attributes of many models (an activation, the init
and update closures of an ``optax.adam(1e-3)`` held by an Optimizer) and compare by
identity: re-creating a model with a fresh ``optax.adam(1e-3)`` gave a new GraphDef, so
every model of a sweep traced and compiled its step again (about a second and several
MB each, kept by jax's cache).

``by_value(f)`` wraps a function in a key that is equal for functions that must behave
the same: the same code, the same globals, and closure cells, defaults and bound
``__self__`` that are themselves equal by value. Values are compared strictly: numbers
by type and exact bits (``0.0`` and ``-0.0`` differ, NaN equals NaN only bitwise),
strings, bytes, None and types by equality, tuples and functions recursively, and
everything else (arrays, lists, modules, any mutable object) by identity, so a hit is
never a guess. Reusing one compiled step for two such functions is sound: tracing
either would record the same computation.
"""

from __future__ import annotations

import copy
import functools
import struct
import types
from typing import Any

FUNCTION_TYPES = (types.FunctionType, types.MethodType, functools.partial)
_EXACT = (str, bytes, type(None), type, bool, int)


class ByValue:
    """A function in a GraphDef: hashes and compares by ``value_key(function)``."""

    __slots__ = ("_hash", "key", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.key = value_key(value, {})
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return isinstance(other, ByValue) and self._hash == other._hash and self.key == other.key

    def __repr__(self) -> str:
        return repr(self.value)


class ByEquality(ByValue):
    """An unhashable static value (a plain ``@dataclass`` config) in a GraphDef.

    It hashes by type and compares by ``==`` against a deep copy taken when the graph was
    walked, so a config edited in place (``model.config.depth = 3``) no longer equals
    the GraphDef a step was compiled for, and the step is traced again. The walk also
    records it among the graph's mutables, so a cached walk is not reused after such an
    edit. Raises ``TypeError`` for a value that cannot be copied or compared.
    """

    __slots__ = ("frozen",)

    def __init__(self, value: Any) -> None:
        self.value = value
        try:
            self.frozen = copy.deepcopy(value)
            same = self.frozen == value
        except Exception as error:  # any failure: not usable as a static
            raise TypeError(f"cannot copy or compare {type(value).__name__}") from error
        if same is not True:
            raise TypeError(f"{type(value).__name__} does not compare equal to a copy of itself")
        self.key = type(value)
        self._hash = hash((ByEquality, type(value).__qualname__))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, ByEquality) or type(other.frozen) is not type(self.frozen):
            return False
        return self.matches(other.frozen)

    __hash__ = ByValue.__hash__

    def matches(self, current: Any) -> bool:
        """Whether ``current`` still equals the value as it was walked."""
        try:
            return (self.frozen == current) is True
        except Exception:  # uncomparable: a different value
            return False


class _Identity:
    """A value compared by identity inside a key (it stays alive while the key does)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


def value_key(value: Any, active: dict[int, int]) -> Any:
    """A hashable key equal for values that behave the same (see the module docstring).

    ``active`` holds the functions being keyed further up, so a function reaching itself
    through its closure (recursion) becomes a back-reference instead of a loop.
    """
    kind = type(value)
    if kind in _EXACT:
        return (kind, value)
    if kind is float:
        return (float, struct.pack("<d", value))
    if kind is complex:
        return (complex, struct.pack("<dd", value.real, value.imag))
    if kind is tuple or (isinstance(value, tuple) and hasattr(value, "_fields")):
        return (kind, tuple(value_key(v, active) for v in value))
    if kind is frozenset:
        try:
            return (frozenset, frozenset(value_key(v, active) for v in value))
        except TypeError:
            return _Identity(value)
    if kind is types.FunctionType:
        return _function_key(value, active)
    if kind is types.MethodType:
        return ("method", value_key(value.__func__, active), value_key(value.__self__, active))
    if kind is functools.partial:
        keywords = tuple(sorted((k, value_key(v, active)) for k, v in value.keywords.items()))
        args = tuple(value_key(v, active) for v in value.args)
        return ("partial", value_key(value.func, active), args, keywords)
    return _Identity(value)


def _function_key(function: types.FunctionType, active: dict[int, int]) -> Any:
    if id(function) in active:
        return ("recursive", active[id(function)])
    active[id(function)] = len(active)
    try:
        cells = tuple(value_key(_cell(c), active) for c in function.__closure__ or ())
        defaults = tuple(value_key(v, active) for v in function.__defaults__ or ())
        kwdefaults = tuple(
            sorted((k, value_key(v, active)) for k, v in (function.__kwdefaults__ or {}).items())
        )
        attributes = tuple(sorted((k, value_key(v, active)) for k, v in vars(function).items()))
    finally:
        del active[id(function)]
    return (
        "function",
        function.__code__,
        _Identity(function.__globals__),
        cells,
        defaults,
        kwdefaults,
        attributes,
    )


_EMPTY = object()


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not yet filled (a name bound later in the outer scope)
        return _EMPTY
