"""Flax NNX 0.12's attribute annotations: ``nnx.data``, ``nnx.static``, data types, dataclasses.

Without a mark, an attribute is state when it is (or holds) a Variable, an Object or an
array, and static otherwise: the 0.10 rule, which also accepts what 0.12 requires marks
for (a plain list of modules). A mark overrides it: ``self.scale = nnx.data(1.0)`` makes
a scalar a leaf of the state (it is traced under ``nnx.jit``), ``self.ids =
nnx.static(ids)`` keeps an array-holding value out of the state. Marks are kept per
class, keyed by attribute name: a class marks its attributes in ``__init__`` and every
instance of it has the same structure. ``register_data_type`` makes every instance of a
type a leaf, wherever it appears.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from nnx_graph import _tracking

T = TypeVar("T")
_MISSING: Any = dataclasses.MISSING

# Types whose instances are leaves of the state (``register_data_type``).
DATA_TYPES: set[type[Any]] = set()


def data(value: Any = _MISSING, /, **field_options: Any) -> Any:
    """Mark an attribute as state: ``self.x = nnx.data(value)``.

    Without a value, it is a dataclass field that is state (``x: int = nnx.data(default=0)``).

    >>> from nnx_graph import Module, state
    >>> class Scaled(Module):
    ...     def __init__(self):
    ...         self.scale = data(2.0)
    >>> state(Scaled())['scale']
    2.0
    """
    return _field(True, value, field_options)


def static(value: Any = _MISSING, /, **field_options: Any) -> Any:
    """Mark an attribute as static (part of the GraphDef, never traced).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, state
    >>> class Table(Module):
    ...     def __init__(self):
    ...         self.ids = static((1, 2))
    ...         self.w = jnp.ones(2)
    >>> list(state(Table()))
    ['w']
    """
    return _field(False, value, field_options)


def _field(is_data: bool, value: Any, options: dict[str, Any]) -> Any:
    metadata = {**options.pop("metadata", {}), "nnx_data": is_data}
    if value is not _MISSING:
        metadata["nnx_value"] = value
    return dataclasses.field(metadata=metadata, **options)


def unwrap(owner: Any, name: str, value: Any) -> Any:
    """The value to store for ``owner.name = value``, recording a mark it carries."""
    if not isinstance(value, dataclasses.Field) or "nnx_value" not in value.metadata:
        return value
    record(type(owner), name, value.metadata["nnx_data"])
    return value.metadata["nnx_value"]


def record(cls: type[Any], name: str, is_data: bool) -> None:
    """Mark ``cls``'s attribute ``name`` as data (True) or static (False)."""
    marks = cls.__dict__.get("_nnx_marks")
    if marks is None:
        marks = dict(getattr(cls, "_nnx_marks", None) or {})
        type.__setattr__(cls, "_nnx_marks", marks)
    if marks.get(name) is not is_data:
        marks[name] = is_data
        _tracking.bump_epoch()  # cached walks of this class saw the old rule


def register_data_type(cls: type[T], /) -> type[T]:
    """Make every instance of ``cls`` a leaf of the state, wherever it appears.

    >>> import dataclasses
    >>> import nnx_graph
    >>> from nnx_graph import Module, state
    >>> @nnx_graph.register_data_type
    ... @dataclasses.dataclass(frozen=True)
    ... class Config:
    ...     depth: int = 2
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.config = Config()
    >>> state(Model())['config']
    Config(depth=2)
    """
    if cls not in DATA_TYPES:
        DATA_TYPES.add(cls)
        _tracking.bump_epoch()
    return cls


def dataclass(cls: Any = None, /, **options: Any) -> Any:
    """``dataclasses.dataclass`` for Objects, honouring ``nnx.data`` / ``nnx.static`` fields.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Object, state
    >>> @dataclass
    ... class Point(Object):
    ...     x: jnp.ndarray
    ...     label: str = static(default='p')
    >>> list(state(Point(jnp.ones(1))))
    ['x']
    """

    def wrap(target: Any) -> Any:
        made: Any = dataclasses.dataclass(target, **{"repr": False, "eq": False, **options})
        for field in dataclasses.fields(made):
            if "nnx_data" in field.metadata:
                record(made, field.name, field.metadata["nnx_data"])
        return made

    return wrap if cls is None else wrap(cls)


def marks_of(cls: type[Any]) -> dict[str, bool] | None:
    """The marks of a class (with those its bases had when it first marked one)."""
    return getattr(cls, "_nnx_marks", None)
