"""The two-way registry between Linen collection names and Variable kinds.

Linen keeps state in named collections (``'params'``, ``'batch_stats'``, ...); NNX keeps
it in Variable kinds (``Param``, ``BatchStat``, ...). Code that converts between the two
(checkpoints written by Linen, a Linen module wrapped in NNX) needs one answer to
"which kind is this collection", so the answer lives in one table here.

The table maps names to kinds; the reverse lookup returns the first name registered for
a kind, so a kind registered under two names reads back as the older one, and the newer
one takes over only if the older name is overwritten with another kind. A subclass of a
registered kind is not registered itself: the lookup compares kinds exactly, so a custom
``Param`` subclass is never silently written out as ``'params'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from nnx_graph import Variable, message
from nnx_variables._kinds import BatchStat, Cache, Intermediate, Param, Perturbation

V = TypeVar("V", bound=type[Variable[Any]])


class _Missing:
    """The default of ``register_variable_name``'s ``typ``: "used as a decorator"."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

_TYPES: dict[str, type[Variable[Any]]] = {}


@overload
def register_variable_name(name: str, typ: V, *, overwrite: bool = False) -> V: ...


@overload
def register_variable_name(name: str, *, overwrite: bool = False) -> Callable[[V], V]: ...


def register_variable_name(name: str, typ: Any = MISSING, *, overwrite: bool = False) -> Any:
    """Map the Linen collection ``name`` to the Variable kind ``typ``; return ``typ``.

    Without ``typ`` it returns a class decorator that registers the class it decorates.
    A name already taken raises ``ValueError`` unless ``overwrite=True``, so two libraries
    cannot silently claim one collection.

    >>> from nnx_graph import Variable
    >>> @register_variable_name('doctest_counts')
    ... class Count(Variable):
    ...     pass
    >>> variable_type_from_name('doctest_counts') is Count
    True
    """
    if isinstance(typ, _Missing):
        return lambda cls: register_variable_name(name, cls, overwrite=overwrite)
    if not overwrite and name in _TYPES:
        raise ValueError(
            message(
                f"nnx.register_variable_name: name {name!r} already mapped to type "
                f"{_TYPES[name].__name__}, cannot register {_type_name(typ)} under it.",
                expected="a name not yet registered, or overwrite=True to replace the mapping",
                fix=f"nnx.register_variable_name({name!r}, {_type_name(typ)}, overwrite=True)",
            )
        )
    _TYPES[name] = typ
    return typ


def variable_name_from_type(typ: type[Variable[Any]], /, *, allow_register: bool = False) -> str:
    """The Linen collection name of the Variable kind ``typ`` (``Param`` -> ``'params'``).

    An unregistered kind raises ``ValueError``; with ``allow_register=True`` it is
    registered under its class name instead, and that name is returned.

    >>> from nnx_variables import BatchStat
    >>> variable_name_from_type(BatchStat)
    'batch_stats'
    """
    for name, registered in _TYPES.items():
        if registered == typ:
            return name
    if not allow_register:
        raise ValueError(
            message(
                f"nnx.variable_name_from_type: type {_type_name(typ)} is not registered "
                "in the registry.",
                expected="a Variable kind registered with register_variable_name "
                f"(registered: {', '.join(t.__name__ for t in _TYPES.values())})",
                fix=f"nnx.register_variable_name('my_collection', {_type_name(typ)}), or "
                "pass allow_register=True to register it under its class name",
            )
        )
    name = typ.__name__
    if name in _TYPES:
        raise ValueError(
            message(
                f"nnx.variable_name_from_type: cannot register {_type_name(typ)} under its "
                f"class name {name!r}, which is already registered as "
                f"{_TYPES[name].__module__}.{_TYPES[name].__qualname__}.",
                expected="a kind whose class name is not a registered collection name",
                fix=f"nnx.register_variable_name('another_name', {_type_name(typ)})",
            )
        )
    register_variable_name(name, typ)
    return name


def variable_type_from_name(
    name: str,
    /,
    *,
    base: type[Variable[Any]] = Variable,
    allow_register: bool = False,
) -> type[Variable[Any]]:
    """The Variable kind of the Linen collection ``name`` (``'params'`` -> ``Param``).

    An unregistered name raises ``ValueError``; with ``allow_register=True`` a new
    subclass of ``base`` named ``name`` is created, registered and returned (a registered
    name returns its kind whatever ``base`` is).

    >>> variable_type_from_name('params').__name__
    'Param'
    """
    if name not in _TYPES:
        if not allow_register:
            raise ValueError(
                message(
                    f"nnx.variable_type_from_name: name {name!r} is not registered in the "
                    "registry.",
                    expected=f"a registered collection name ({', '.join(map(repr, _TYPES))})",
                    fix=f"nnx.register_variable_name({name!r}, MyVariable), or pass "
                    "allow_register=True to create a Variable kind for it",
                )
            )
        _TYPES[name] = type(name, (base,), {"__module__": __name__})
    return _TYPES[name]


def _type_name(typ: Any) -> str:
    return typ.__name__ if isinstance(typ, type) else repr(typ)


for _name, _kind in (
    ("params", Param),
    ("batch_stats", BatchStat),
    ("cache", Cache),
    ("intermediates", Intermediate),
    ("perturbations", Perturbation),
):
    register_variable_name(_name, _kind)
