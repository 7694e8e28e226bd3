"""Flax NNX 0.12's attribute annotations: ``nnx.data``, ``nnx.static``, data types, dataclasses.

Without a mark, an attribute is state when it is (or holds) a Variable, an Object or an
array, and static otherwise: the 0.10 rule, which also accepts what 0.12 requires marks
for (a plain list of modules). A mark overrides it: ``self.scale = nnx.data(1.0)`` makes
a scalar a leaf of the state (it is traced under ``nnx.jit``), ``self.ids =
nnx.static(ids)`` keeps an array-holding value out of the state. Marks are kept per
class, keyed by attribute name: a class marks its attributes in ``__init__`` and every
instance of it has the same structure. ``register_data_type`` makes every instance of a
type a leaf, wherever it appears.

A class body can mark attributes too, for every instance at once: an annotation
``x: nnx.Data[int]`` or ``ids: nnx.Static[tuple]`` (Flax 0.12 deprecates these in favour
of the next form but honours them), or a class-level field ``x: int = nnx.data(default=0)``
(also 0.10's ``nnx.field(static=True)``). They are read when the class is created; a
class that marks one name both ways is refused then.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from typing import Annotated, Any, TypeVar

from nnx_graph import _tracking
from nnx_graph._errors import message

A = TypeVar("A")
T = TypeVar("T")
_MISSING: Any = dataclasses.MISSING

# The annotation metadata flax 0.12 uses, so ``nnx.Data[int].__metadata__`` reads the same.
_DATA_TAG = "__data__"
_STATIC_TAG = "__static__"

Data = Annotated[A, _DATA_TAG]
"""Annotate a class attribute as state for every instance: ``n: nnx.Data[int]``.

An int, a string or any value assigned to ``n`` is then a leaf of the state (traced
under ``nnx.jit``), as ``self.n = nnx.data(value)`` makes it for one assignment. Flax
0.12 deprecates it for ``n: int = nnx.data()``; both work here.

>>> from nnx_graph import Module, state
>>> class Counter(Module):
...     n: Data[int]
...     def __init__(self):
...         self.n = 0
>>> state(Counter())['n']
0
"""

Static = Annotated[A, _STATIC_TAG]
"""Annotate a class attribute as static for every instance: ``ids: nnx.Static[tuple]``.

The value goes into the GraphDef; assigning data to it (an array, a Variable, a Module)
raises, since it would silently stop being trained or traced.

>>> import jax.numpy as jnp
>>> from nnx_graph import Module, state
>>> class Table(Module):
...     ids: Static[tuple]
...     def __init__(self):
...         self.ids, self.w = (1, 2), jnp.ones(2)
>>> list(state(Table()))
['w']
"""

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
    name = "nnx.data" if is_data else "nnx.static"
    if value is not _MISSING and options:
        raise TypeError(
            message(
                f"{name}() takes a value or dataclass field options, not both.",
                expected=f"self.x = {name}(value), or x: T = {name}(default=value) in a class",
                fix=f"{name}({', '.join(f'{k}=...' for k in options)})",
            )
        )
    extra = dict(options.pop("metadata", None) or {})
    if "static" in extra:
        raise ValueError(
            message(
                f"{name}(metadata=...) cannot hold a 'static' key: {name} sets it.",
                fix=f"{name}(metadata={{...}})  # without 'static'",
            )
        )
    # flax 0.12's metadata: ``nnx_value`` (the wrapped value, or MISSING for a class-level
    # field) says it came from ``nnx.data`` / ``nnx.static``; ``static`` says which.
    metadata = {**extra, "nnx_value": value, "static": not is_data}
    return dataclasses.field(metadata=metadata, **options)


def field(*, static: bool = False, **field_options: Any) -> Any:
    """Flax 0.10's dataclass field: ``nnx.field(static=True, default=4)`` marks it static.

    ``static=False`` (the default) leaves the attribute to the usual rule, as 0.10 did:
    arrays, Variables and Objects are state, other values static. The field's metadata
    carries ``static`` as 0.10's did.

    >>> from nnx_graph import Object, state
    >>> import jax.numpy as jnp
    >>> @dataclass
    ... class Point(Object):
    ...     x: jnp.ndarray
    ...     label: str = field(static=True, default='p')
    >>> list(state(Point(jnp.ones(1))))
    ['x']
    """
    metadata = dict(field_options.pop("metadata", None) or {})
    if metadata.setdefault("static", static) != static:
        raise ValueError(
            message(
                f"nnx.field(static={static}) got metadata={{'static': {metadata['static']!r}}}.",
                expected="one way of saying whether the field is static",
                fix=f"nnx.field(static={metadata['static']!r}, ...)  # and drop it from metadata",
            )
        )
    return dataclasses.field(metadata=metadata, **field_options)


def marked_value(value: Any) -> tuple[bool, Any] | None:
    """``(is_data, inner value)`` for ``nnx.data(x)`` / ``nnx.static(x)``, else None."""
    if not isinstance(value, dataclasses.Field):
        return None
    inner = value.metadata.get("nnx_value", _MISSING)
    if inner is _MISSING:
        return None
    return not value.metadata["static"], inner


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
        # The fields' marks were read when the class was created (``record_class``).
        return dataclasses.dataclass(target, **{"repr": False, "eq": False, **options})

    return wrap if cls is None else wrap(cls)


def marks_of(cls: type[Any]) -> dict[str, bool] | None:
    """The marks of a class (with those its bases had when it first marked one)."""
    return getattr(cls, "_nnx_marks", None)


def record_class(cls: type[Any]) -> None:
    """Record the marks a class body declares: annotations and class-level fields.

    Raises ValueError when an annotation and a field disagree about one name.
    """
    declared = _annotation_marks(cls)
    for name, value in vars(cls).items():
        if not isinstance(value, dataclasses.Field):
            continue
        static = value.metadata.get("static")
        if static is not None and not isinstance(static, bool):
            raise ValueError(
                message(
                    f"Invalid 'static' metadata for attribute '{cls.__name__}.{name}': {static!r}.",
                    expected="True or False",
                    fix=f"{name}: SomeType = nnx.static(...)  # or nnx.data(...)",
                )
            )
        if static is not True and "nnx_value" not in value.metadata:
            continue  # 0.10's ``nnx.field(static=False)``: no mark, the usual rule
        is_data = not static
        if declared.get(name, is_data) != is_data:
            before, after = ("data", "static") if declared[name] else ("static", "data")
            raise ValueError(
                message(
                    f"Conflicting pytree annotation for attribute '{cls.__name__}.{name}': "
                    f"annotated as {before}, but its field is nnx.{after}(...).",
                    expected="one mark per attribute",
                    fix=f"{name}: SomeType = nnx.{after}(...)  # without nnx.Data / nnx.Static",
                )
            )
        declared[name] = is_data
    for name, is_data in declared.items():
        record(cls, name, is_data)


_STRING_MARK = re.compile(r"^\s*(?:[\w.]+\.)?(Data|Static)\[")


def _annotation_marks(cls: type[Any]) -> dict[str, bool]:
    """The names this class annotates ``nnx.Data[...]`` (True) or ``nnx.Static[...]``."""
    marks: dict[str, bool] = {}
    module = sys.modules.get(cls.__module__)
    namespace = vars(module) if module is not None else {}
    for name, hint in vars(cls).get("__annotations__", {}).items():
        if isinstance(hint, str):  # ``from __future__ import annotations``
            if "Data" not in hint and "Static" not in hint:
                continue  # most annotations: not worth evaluating
            try:
                hint = eval(hint, namespace, {cls.__name__: cls})
            except Exception:  # a name defined later: read the spelling
                found = _STRING_MARK.match(hint)
                if found:
                    marks[name] = found.group(1) == "Data"
                continue
        tags = getattr(hint, "__metadata__", ()) if typing.get_origin(hint) is Annotated else ()
        if _DATA_TAG in tags:
            marks[name] = True
        elif _STATIC_TAG in tags:
            marks[name] = False
    return marks
