"""Variable: a mutable box around one value, with its metadata.

A Variable is how a Module holds state that changes: parameters, running statistics,
RNG counters. Its subclass is its kind (``Param``, ``BatchStat``, a user's
``class Count(Variable)``), and filters select state by kind. It behaves like its value
in arithmetic (``_variable_ops``) and is a pytree whose only leaf is the value, so it
can be handed to any jax function. States hold the graph's own Variables (as in Flax NNX
0.12); ``VariableState`` is their 0.10 name (``_variable_state``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import jax
import numpy as np

from nnx_graph import _tracking
from nnx_graph._eager_sharding import (
    new_name,
    rename_old_names,
    shard_value,
    using_eager_sharding,
)
from nnx_graph._errors import (
    EscapedTraceError,
    HijaxNotSupportedError,
    TraceContextError,
    describe,
    message,
)
from nnx_graph._variable_ops import install_operators

A = TypeVar("A")

# ``index`` of ``get_value`` / ``set_value`` when the whole value is meant; a sentinel
# rather than None because ``v[None]`` is a valid (axis-adding) index.
_WHOLE: Any = type("Whole", (), {"__repr__": lambda self: "<whole value>"})()
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


class EscapedValue:
    """The value of a Variable built inside a transform, once the transform has returned.

    A leaked reference then fails loudly, naming where it was built (``origin``, e.g.
    ``"nnx.jit (tracing build)"``), instead of handing out a dead tracer.
    """

    __slots__ = ("origin",)

    def __init__(self, origin: str = "") -> None:
        self.origin = origin

    def __repr__(self) -> str:
        return "<escaped>"


# The escaped value whose origin is unknown; also ``replace``'s "no value given".
ESCAPED: Any = EscapedValue()


class Variable(Generic[A]):
    """A mutable box holding one value (usually an array) and its metadata.

    Subclass it to make a new kind of state: ``class Count(Variable): pass``. Reading
    and writing go through ``.value`` (or ``v[...]``); metadata are keyword arguments of
    the constructor and read back as attributes.

    >>> import jax.numpy as jnp
    >>> v = Variable(jnp.array(1.0), description='a scalar')
    >>> float(v + 1), v.description
    (2.0, 'a scalar')
    >>> v.value = jnp.array(5.0)
    >>> float(v[...])
    5.0
    """

    __slots__ = ("__weakref__", "_metadata", "_nnx_calls", "_trace", "_value", "_watched")
    _metadata: dict[str, Any]
    _nnx_calls: dict[Any, Any] | None
    _trace: Any
    _value: Any
    _watched: bool
    _fields: ClassVar[frozenset[str]] = frozenset(
        {"value", "_value", "_metadata", "_nnx_calls", "_trace", "_watched"}
    )

    def __init__(self, value: A, **metadata: Any) -> None:
        # Hook for boxed initial values (nnx_variables' ``with_metadata``): the box gives
        # the value and metadata; keyword arguments at the call site win over the box's.
        unbox = getattr(type(value), "__nnx_unbox__", None)
        if unbox is not None:
            value, boxed = unbox(value)
            metadata = {**boxed, **metadata}
        _refuse_refs(metadata, type(self).__name__, value)
        rename_old_names(metadata)
        if isinstance(value, Variable):
            raise TypeError(
                message(
                    f"{type(self).__name__}(...) was given a Variable "
                    f"({type(value).__name__}) as its value.",
                    expected="an array or other plain value",
                    fix=f"{type(self).__name__}(variable.value)",
                )
            )
        hook = _hook(self, "on_create_value", metadata)
        if hook is not None:
            value = hook(self, value)
        if "out_sharding" in metadata:
            eager = metadata.get("eager_sharding")
            if using_eager_sharding() if eager is None else eager:
                mesh = metadata.get("mesh")
                value = shard_value(
                    value,
                    metadata["out_sharding"],
                    mesh,
                    type(self).__name__,
                    metadata.get("sharding_rules"),
                )
        _fill(self, value, metadata)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register_pytree(cls)

    # -- value -------------------------------------------------------------------------

    @property
    def value(self) -> A:
        """The value held, read through ``get_value`` and written through ``set_value``."""
        return self.get_value()

    @value.setter
    def value(self, value: A) -> None:
        self.set_value(value)

    def get_value(self, *, index: Any = _WHOLE) -> A:
        """The value held (or ``value[index]``); ``.value`` and ``v[...]`` read through it.

        Override it in a subclass to transform every read; ``get_raw_value`` bypasses it.

        >>> import jax.numpy as jnp
        >>> class Doubled(Variable):
        ...     def get_value(self, **kwargs):
        ...         return super().get_value(**kwargs) * 2
        >>> v = Doubled(jnp.ones(2))
        >>> v[...].tolist(), v.get_value(index=0).tolist(), v.get_raw_value().tolist()
        ([2.0, 2.0], 2.0, [1.0, 1.0])
        """
        value: Any = self._value
        if type(value) is EscapedValue:
            raise EscapedTraceError(escaped_message(self, value.origin))
        hook = _hook(self, "on_get_value", self._metadata)
        if hook is not None:
            value = hook(self, value)
        if index is _WHOLE or index is Ellipsis:
            return value  # type: ignore[no-any-return]
        return value[index]  # type: ignore[no-any-return]

    def set_value(self, value: A, *, index: Any = _WHOLE) -> None:
        """Write the value (or ``value[index]``); ``.value = x`` and ``v[i] = x`` go through it.

        Override it in a subclass to transform or validate every write. Writing checks
        that this Variable belongs to the current trace.

        >>> import jax.numpy as jnp
        >>> v = Variable(jnp.zeros(3))
        >>> v.set_value(jnp.ones(3))
        >>> v.set_value(5.0, index=0)
        >>> v[...].tolist()
        [5.0, 1.0, 1.0]
        """
        if index is not _WHOLE and index is not Ellipsis:
            current: Any = self.get_raw_value()
            if type(current) is EscapedValue:
                raise EscapedTraceError(escaped_message(self, current.origin))
            if hasattr(current, "at"):
                value = current.at[index].set(value)
            else:
                current = np.array(current, copy=True)
                current[index] = value
                value = current
        if isinstance(value, Variable):
            raise TypeError(
                message(
                    f"Cannot store a Variable ({type(value).__name__}) as the value of "
                    f"a {type(self).__name__}.",
                    expected="an array or other plain value",
                    fix="variable.value = other.value",
                )
            )
        hook = _hook(self, "on_set_value", self._metadata)
        if hook is not None:
            value = hook(self, value)
        self.check_trace()
        object.__setattr__(self, "_value", value)

    def add_axis(self, axis_index: int, axis_name: Any) -> None:
        """Tell the Variable a transform stacked its value on ``axis_index`` (``on_add_axis``)."""
        hook = _hook(self, "on_add_axis", self._metadata)
        if hook is not None:
            hook(self, axis_index, axis_name)

    def remove_axis(self, axis_index: int, axis_name: Any) -> None:
        """Tell the Variable a transform maps over ``axis_index`` (``on_remove_axis``)."""
        hook = _hook(self, "on_remove_axis", self._metadata)
        if hook is not None:
            hook(self, axis_index, axis_name)

    @property
    def raw_value(self) -> A:
        """The value without the escaped-trace check (for display and debugging)."""
        return self._value  # type: ignore[no-any-return]

    def get_raw_value(self) -> A:
        """The value as stored, bypassing ``get_value`` (and any override of it).

        >>> Variable(3).get_raw_value()
        3
        """
        return self._value  # type: ignore[no-any-return]

    def check_trace(self) -> None:
        """Raise if this Variable is written from inside a transform it was not passed to."""
        if self._trace != _tracking.current_trace():
            raise TraceContextError(
                message(
                    f"Cannot update a {type(self).__name__} "
                    f"({describe(self._value)}) from inside a JAX transform "
                    "it was not passed to.",
                    [
                        "the object holding it was captured from the enclosing scope "
                        "(a closure or a global) instead of being an argument"
                    ],
                    expected="objects mutated inside nnx.jit, nnx.grad, ... to be arguments",
                    fix="pass the module in, through an nnx transform: `nnx.jit(step)(model, "
                    "x)` with `def step(model, x): ...` (a plain jax.jit or jax.grad treats a "
                    "module as a pytree: changes made inside stay inside)",
                ),
                target=self,
            )

    # -- metadata ----------------------------------------------------------------------

    def get_metadata(
        self, name: str | None = None, default: Any = _MISSING, *, exclude_required: bool = False
    ) -> Any:
        """A copy of this Variable's metadata, or the entry ``name`` (``default`` if absent).

        The whole dict holds what was given, as in Flax NNX 0.10; the entries flax 0.12
        adds to every Variable (``hijax``, ``ref``, ``eager_sharding``) are read by name,
        with their defaults when not given (``exclude_required`` is accepted for 0.12 code).

        >>> v = Variable(0.0, tag='w', sharding=('x',))
        >>> v.get_metadata(), v.get_metadata('tag'), v.get_metadata('note', None)
        ({'tag': 'w', 'out_sharding': ('x',)}, 'w', None)
        >>> v.get_metadata('hijax'), v.get_metadata('eager_sharding')
        (False, True)
        """
        del exclude_required  # the dict never holds the required entries
        if name is None:
            return dict(self._metadata)
        name = new_name(name)
        if name in self._metadata:
            return self._metadata[name]
        if default is not _MISSING:
            return default
        if name in _DEFAULTS:
            return _DEFAULTS[name]()
        raise KeyError(f"{type(self).__name__} has no metadata {name!r}")

    def set_metadata(self, *args: Any, **kwargs: Any) -> None:
        """Change this Variable's metadata, in one of Flax NNX 0.12's three forms.

        ``set_metadata(a=1)`` updates entries, ``set_metadata('a', 1)`` sets one, and
        ``set_metadata({'a': 1})`` replaces them all.

        >>> v = Variable(0.0, a=1)
        >>> v.set_metadata(b=2); v.set_metadata('c', 3)
        >>> v.get_metadata()
        {'a': 1, 'b': 2, 'c': 3}
        >>> v.set_metadata({'d': 4}); v.get_metadata()
        {'d': 4}
        """
        metadata = rename_old_names(_metadata_from_arguments(type(self).__name__, args, kwargs))
        if len(args) != 1:
            metadata = {**self._metadata, **metadata}
        _refuse_refs(metadata, type(self).__name__, self._value)
        self.check_trace()
        # Through ``__setattr__``: metadata are structure, so the epoch moves.
        self._metadata = metadata

    @classmethod
    def from_metadata(cls, value: Any, attributes: Mapping[str, Any]) -> Variable[Any]:
        """A Variable of this kind holding ``value`` with exactly ``attributes`` as metadata.

        The inverse of ``(v.get_raw_value(), v.get_metadata())``; ``__init__`` of a
        subclass is not run, as in Flax NNX 0.12.

        >>> v = Variable.from_metadata(1.0, {'tag': 'w'})
        >>> v.get_raw_value(), v.get_metadata()
        (1.0, {'tag': 'w'})
        """
        metadata = rename_old_names(dict(attributes))
        _refuse_refs(metadata, cls.__name__, value)
        new: Variable[Any] = object.__new__(cls)
        _fill(new, value, metadata)
        return new

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in Variable._fields:
            raise AttributeError(name)
        metadata = object.__getattribute__(self, "_metadata")
        if name in metadata:
            return metadata[name]
        if name == "sharding_names":  # the 0.11 key, read as 0.12 does
            return metadata.get("out_sharding")
        value = object.__getattribute__(self, "_value")
        try:
            return getattr(value, name)
        except AttributeError:
            if name in _DEFAULTS:
                return _DEFAULTS[name]()
            raise AttributeError(
                f"{type(self).__name__} has no metadata {name!r} and its value "
                f"({describe(value)}) has no attribute {name!r}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_metadata" or name == "__class__":
            # Metadata and kind are structure: cached walks recorded them. The epoch
            # moves before and after the write (see nnx_graph._tracking).
            if self._watched:
                _tracking.bump_epoch()
            object.__setattr__(self, name, value)
            if self._watched:
                _tracking.bump_epoch()
            return
        if name in Variable._fields or name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        self.check_trace()
        self._metadata = {**self._metadata, new_name(name): value}

    def __delattr__(self, name: str) -> None:
        name = new_name(name)
        if name not in self._metadata:
            raise AttributeError(f"{type(self).__name__} has no metadata {name!r}")
        self.check_trace()
        self._metadata = {k: v for k, v in self._metadata.items() if k != name}

    # -- conversion --------------------------------------------------------------------

    @classmethod
    def state(cls, value: Any, **metadata: Any) -> Variable[Any]:
        """A State leaf of this kind (0.10's ``Param.state(1)``; a Variable now).

        >>> Variable.state(1.0, tag='w').get_metadata()
        {'tag': 'w'}
        """
        return cls(value, **metadata)

    @property
    def type(self) -> type[Variable[A]]:
        """This Variable's kind (the 0.10 ``VariableState.type``)."""
        return type(self)

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the metadata (the 0.10 ``VariableState.metadata``)."""
        return dict(self._metadata)

    def to_state(self) -> Variable[A]:
        """A copy of this Variable: the 0.10 snapshot, now a Variable like every State leaf."""
        return self.replace()

    def to_variable(self) -> Variable[A]:
        """A copy of this Variable (the 0.10 ``VariableState.to_variable``)."""
        return self.replace()

    def replace(self, value: Any = ESCAPED, **metadata: Any) -> Variable[Any]:
        """A new Variable of the same kind with ``value`` and/or metadata replaced."""
        new = object.__new__(type(self))
        metadata = {**self._metadata, **rename_old_names(metadata)}
        _fill(new, self._value if value is ESCAPED else value, metadata)
        return new

    def update_from_state(self, state: Variable[A]) -> None:
        """Write another Variable's (a State leaf's) value and metadata into this one."""
        if state is self:
            return
        self.value = state.value
        if state.metadata != self._metadata:
            self._metadata = dict(state.metadata)

    def copy_from(self, other: Variable[A]) -> None:
        """Make this Variable hold ``other``'s value and metadata."""
        self.value = other.value
        if other._metadata != self._metadata:
            self._metadata = dict(other._metadata)

    # -- behave like the value ---------------------------------------------------------

    def __jax_array__(self) -> Any:
        return self.value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = np.asarray(self.value, dtype=dtype)
        return array.copy() if copy else array

    @property
    def _any_value(self) -> Any:
        return self.value

    def __getitem__(self, key: Any) -> Any:
        return self.get_value(index=key)

    def __setitem__(self, key: Any, item: Any) -> None:
        self.set_value(item, index=key)

    def __len__(self) -> int:
        return len(self._any_value)

    def __iter__(self) -> Any:
        return iter(self._any_value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __int__(self) -> int:
        return int(self._any_value)

    def __float__(self) -> float:
        return float(self._any_value)

    def __index__(self) -> int:
        return operator.index(self._any_value)

    def __complex__(self) -> complex:
        return complex(self._any_value)

    __hash__ = object.__hash__  # identity: Variables are mutable boxes, not values

    def __repr__(self) -> str:
        items = [f"value={_short_repr(self._value)}"]
        items += [f"{k}={v!r}" for k, v in self._metadata.items()]
        return f"{type(self).__name__}({', '.join(items)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_variable, (type(self), self._value, self._metadata))

    def __copy__(self) -> Variable[A]:
        return self.replace()

    def __deepcopy__(self, memo: dict[int, Any]) -> Variable[A]:
        import copy

        new = self.replace(copy.deepcopy(self._value, memo))
        memo[id(self)] = new
        return new


def _fill(variable: Variable[Any], value: Any, metadata: dict[str, Any]) -> None:
    """Set a new Variable's fields: the part of ``__init__`` that copies also need."""
    object.__setattr__(variable, "_value", value)
    object.__setattr__(variable, "_metadata", metadata)
    object.__setattr__(variable, "_trace", _tracking.current_trace())
    object.__setattr__(variable, "_watched", False)
    object.__setattr__(variable, "_nnx_calls", None)  # cached walks (see nnx_graph._cache)


# The entries flax 0.12 puts in every Variable's metadata, with their defaults; here they
# are read by name (``get_metadata('hijax')``, ``v.eager_sharding``) but not stored, so
# the metadata dict stays the one the user gave, as in 0.10.
_DEFAULTS: dict[str, Callable[[], Any]] = {
    "hijax": lambda: False,
    "ref": lambda: False,
    "eager_sharding": using_eager_sharding,
}


# The 0.10 value hooks: a metadata entry ``on_get_value=fn(variable, value)`` or a method
# of that name on the kind (``def on_get_value(self, value)``). flax 0.12 deprecates them
# in favour of overriding ``get_value``/``set_value``; both spellings keep working here.
HOOKS = ("on_get_value", "on_set_value", "on_create_value", "on_add_axis", "on_remove_axis")


def _hook(variable: Variable[Any], name: str, metadata: Mapping[str, Any]) -> Any:
    """The hook ``name`` of a Variable as ``fn(variable, *args)``, or None."""
    hook = metadata.get(name)
    if hook is not None:
        return hook
    method = getattr(type(variable), name, None)
    if method is None:
        return None
    return lambda variable, *args: method(variable, *args)


def _rebuild_variable(kind: type[Variable[Any]], value: Any, metadata: dict[str, Any]) -> Any:
    new = object.__new__(kind)
    # Pickles of an earlier nnx hold the mesh axis names under ``sharding``.
    _fill(new, value, rename_old_names(dict(metadata)))
    return new


install_operators(Variable)


def _short_repr(value: Any) -> str:
    if isinstance(value, jax.Array | np.ndarray) and value.size > 16:
        return describe(value)
    return repr(value)


def _metadata_from_arguments(
    kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The metadata that ``set_metadata``'s three call forms ask for."""
    if (args and kwargs) or len(args) > 2 or (len(args) == 2 and not isinstance(args[0], str)):
        given = ", ".join([*(describe(a) for a in args), *(f"{k}=..." for k in kwargs)])
        raise TypeError(
            message(
                f"{kind}.set_metadata: cannot read the arguments ({given}).",
                expected="a dict (replaces all metadata), a name and a value, or keywords",
                fix="variable.set_metadata(name=value)",
            )
        )
    if len(args) == 2:
        return {args[0]: args[1]}
    if len(args) == 1:
        return dict(args[0])
    return kwargs


def _refuse_refs(metadata: dict[str, Any], kind: str, value: Any) -> None:
    """Drop ``hijax`` / ``ref`` from ``metadata``; refuse them when true (not supported yet).

    Flax 0.12 backs such a Variable with a ``jax.Ref``; storing the flag as plain metadata
    would give the call another meaning than flax's without a word, so it is an error.
    """
    for keyword in ("hijax", "ref"):
        if metadata.pop(keyword, False):
            raise HijaxNotSupportedError(_hijax_message(kind, value, keyword))


def _hijax_message(kind: str, value: Any, keyword: str = "hijax") -> str:
    return message(
        f"{kind}(..., {keyword}=True): hijax (jax.Ref-backed) Variables are not supported yet.",
        [f"value: {describe(value)}"],
        expected=f"{keyword}=False or no {keyword} keyword; nnx Variables are mutable boxes "
        "already",
        fix=f"{kind}(value)",
    )


def escaped_message(node: Any, origin: str) -> str:
    """Why ``node`` (built inside a transform, ``origin`` if known) cannot be used now."""
    return message(
        f"This {type(node).__name__} was created inside {origin or 'a JAX transform'} and "
        "used after the transform returned.",
        [
            "objects built while tracing hold tracers; only the objects passed in "
            "and the values returned come out of a transform"
        ],
        expected="state to leave a transform through its arguments or return value",
        fix="return the object from the transformed function instead of storing it elsewhere",
    )


def _register_pytree(kind: type[Variable[Any]]) -> None:
    """Make a Variable kind a pytree whose one child is its value.

    jax (0.7 and later) no longer calls ``__jax_array__`` when it abstractifies an
    argument; it accepts objects registered as pytrees instead, which is what lets
    ``jnp.tanh(variable)`` or ``jax.jit(f)(variable)`` work. Registration is per type, so
    every subclass registers itself. Flattening a Variable gives a new Variable back on
    unflatten: identity is the graph's business, not the pytree's (the transforms treat
    Variables as leaves).
    """

    def flatten_with_keys(v: Variable[Any]) -> tuple[Any, Any]:
        return ((jax.tree_util.GetAttrKey("value"), v._value),), tuple(v._metadata.items())

    def unflatten(metadata: Any, children: Any) -> Variable[Any]:
        new: Variable[Any] = object.__new__(kind)
        _fill(new, children[0], dict(metadata))
        return new

    jax.tree_util.register_pytree_with_keys(
        kind, flatten_with_keys, unflatten, lambda v: ((v._value,), tuple(v._metadata.items()))
    )


_register_pytree(Variable)
