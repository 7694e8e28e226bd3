"""What counts as data, and the checks that keep data out of static attributes.

A value is data (``is_data``) when it is an array, a Variable, a graph node (Object,
Module, Rngs, ...) or an instance of a registered data type: what Flax NNX 0.12 makes a
pytree child without being asked. A static attribute holding data would drop it from
the state: the array would never be trained, a Variable never updated by ``nnx.jit``.
So an attribute marked static (``nnx.static(x)``, ``x: nnx.Static[T]``) refuses data
when assigned, and ``check_pytree`` re-checks a whole object. Unmarked attributes keep
the 0.10 rule (a plain list of arrays is state), so they never fail these checks.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nnx_graph._errors import describe, message
from nnx_graph._marks import DATA_TYPES, marked_value, record
from nnx_graph._variable import Variable

# Object, set by ``_pytree`` (as it registers Objects as pytrees): ``_object`` imports
# this module for its assignment checks, so this one cannot import it.
_OBJECT: tuple[type[Any], ...] = ()
_DATA_BASES: tuple[type[Any], ...] = (Variable, jax.Array, np.ndarray)


def set_object_base(kind: type[Any]) -> None:
    """Make ``kind`` (Object) the base of graph nodes: its instances are data."""
    global _OBJECT, _DATA_BASES
    _OBJECT = (kind,)
    _DATA_BASES = (Variable, jax.Array, np.ndarray, kind)


def is_data(value: Any, /) -> bool:
    """Whether ``value`` is data by itself: an array, Variable, graph node or data type.

    A container is not data, even one holding arrays (``has_data`` looks inside).

    >>> import jax.numpy as jnp
    >>> is_data(jnp.ones(2)), is_data(Variable(1)), is_data(42), is_data([jnp.ones(1)])
    (True, True, False, False)
    """
    return isinstance(value, _DATA_BASES) or type(value) in DATA_TYPES


def has_data(value: Any, /) -> list[Any]:
    """The data (``is_data`` values) in the pytree ``value``, outermost first.

    Graph nodes are not looked into; a value reached twice is listed twice.

    >>> import jax.numpy as jnp
    >>> [type(x).__name__ for x in has_data({'a': [jnp.ones(1), 2, Variable(3)]})]
    ['ArrayImpl', 'Variable']
    """
    return [leaf for leaf in _leaves(value) if is_data(leaf)]


def _leaves(value: Any) -> list[Any]:
    """The pytree leaves of ``value``, stopping at data and at a node met before (a cycle).

    jax refuses a dict whose keys do not sort (``{1: a, 'b': c}``); such a value is
    walked here instead, one level at a time, dicts in insertion order.
    """
    seen: set[int] = set()

    def stop(x: Any) -> bool:
        if id(x) in seen:
            return True
        seen.add(id(x))
        return is_data(x)

    try:
        return jax.tree.leaves(value, is_leaf=stop)
    except Exception:  # any pytree node that fails to flatten: walk by hand
        seen.clear()

    def walk(x: Any) -> list[Any]:
        if stop(x):
            return [x]
        if isinstance(x, dict):
            children: Any = x.values()
        else:
            try:
                children, _ = jax.tree_util.flatten_one_level(x)
            except Exception:  # not a pytree node (or one that fails): a leaf
                return [x]
        return [leaf for child in children for leaf in walk(child)]

    return walk(value)


def unwrap(owner: Any, name: str, value: Any) -> Any:
    """The value to store for ``owner.name = value``: a mark's value, checked and recorded.

    Raises ValueError for data assigned to a static attribute and for ``nnx.data`` /
    ``nnx.static`` nested inside a container, before anything is written.
    """
    marked = marked_value(value)
    cls = type(owner)
    if marked is None:
        marks = cls._nnx_marks
        if marks is not None and marks.get(name) is False:
            _check_static(owner, name, value, explicit=False)
        if type(value) in (list, tuple, dict):
            _check_no_nested_marks(owner, name, value)
        return value
    is_data, inner = marked
    if not is_data:
        _check_static(owner, name, inner, explicit=True)
    if type(inner) in (list, tuple, dict):
        _check_no_nested_marks(owner, name, inner)
    record(cls, name, is_data)
    return inner


def check_pytree(pytree: Any, /) -> None:
    """Check every attribute of an Object: no data in a static one, no nested marks.

    Assignments are checked as they happen; this re-checks an object whose attributes
    were written around ``__setattr__`` (``obj.__dict__``, ``object.__setattr__``).

    >>> import nnx_graph
    >>> nnx_graph.check_pytree(nnx_graph.Module())
    >>> nnx_graph.check_pytree(3)
    Traceback (most recent call last):
    ...
    TypeError: nnx.check_pytree expected a Pytree (an nnx.Object or Module), got int.
    """
    if not isinstance(pytree, _OBJECT):
        raise TypeError(
            message(
                "nnx.check_pytree expected a Pytree (an nnx.Object or Module), got "
                f"{type(pytree).__name__}."
            )
        )
    marks = type(pytree)._nnx_marks or {}
    for name, value in list(vars(pytree).items()):
        if marks.get(name) is False:
            _check_static(pytree, name, value, explicit=False)
        _check_no_nested_marks(pytree, name, value)


def _check_static(owner: Any, name: str, value: Any, *, explicit: bool) -> None:
    found = has_data(value)
    if not found:
        return
    where = f"{type(owner).__name__}.{name}"
    how = "mark data static with nnx.static(...) on" if explicit else "assign data to static"
    held = "" if found[0] is value else f" holding {', '.join(sorted(set(map(describe, found))))}"
    raise ValueError(
        message(
            f"Cannot {how} attribute '{where}': it would never be trained, traced or updated.",
            [f"{where}: {describe(value)}{held}"],
            expected="static attributes free of arrays, Variables and Modules",
            fix=f"self.{name} = nnx.data(value)  # or leave the data out; nnx.List([...]) "
            "for a list of layers",
        )
    )


def _check_no_nested_marks(owner: Any, name: str, value: Any) -> None:
    tags = sorted(
        {
            "nnx.data" if found[0] else "nnx.static"
            for leaf in _leaves(value)
            if (found := marked_value(leaf)) is not None
        }
    )
    if tags:
        raise ValueError(
            message(
                f"Found {' and '.join(tags)}(...) inside the {type(value).__name__} assigned "
                f"to '{type(owner).__name__}.{name}': marks only work assigned directly.",
                expected=f"self.{name} = nnx.data(value) or self.{name} = nnx.static(value)",
                fix=f"self.{name} = nnx.data([...])  # mark the whole attribute",
            )
        )
