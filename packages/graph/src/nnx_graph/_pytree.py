"""Objects (Modules, Rngs, Optimizers) as jax pytrees, as in Flax NNX 0.12.

``jax.tree.leaves(model)`` gives the model's arrays, ``jax.tree.map(f, model)`` returns a
new model, and ``jax.jit(f)(model, x)`` works. An attribute is a child when it holds
state (a Variable, an Object, an array, or a container of those) and aux data otherwise,
so a treedef compares models by structure and static attributes.

This is tree mode: a sub-module or Variable shared by two attributes becomes two copies
on the way back, and mutations made inside ``jax.jit`` stay inside. ``nnx.jit`` and the
other nnx transforms keep sharing and write mutations back, and ``nnx.jit`` is the fast
way to call a model: it reuses its walk of the graph (see ``_cache``), where a pytree
flatten walks the whole model on every call.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nnx_graph._data import set_object_base
from nnx_graph._marks import DATA_TYPES
from nnx_graph._object import SUBCLASS_HOOKS, Module, Object, init_object
from nnx_graph._variable import Variable

_NODES = (Variable, Object, jax.Array, np.ndarray)


def _is_node(x: Any) -> bool:
    return isinstance(x, Variable | Object)


def holds_state(value: Any) -> bool:
    """Whether an attribute value is (or holds) a Variable, Object, array or data type."""
    if isinstance(value, _NODES) or type(value) in DATA_TYPES:
        return True
    if isinstance(value, str | bytes | int | float | complex | type) or value is None:
        return False
    return any(
        isinstance(leaf, _NODES) or type(leaf) in DATA_TYPES
        for leaf in jax.tree.leaves(value, is_leaf=_is_node)
    )


def _flatten_with_keys(obj: Object) -> tuple[list[tuple[Any, Any]], tuple[Any, ...]]:
    attributes = vars(obj)
    children, statics = [], []
    try:  # ints (nnx.List entries) in numeric order, as the graph walk has them
        names_in_order = sorted(attributes)
    except TypeError:
        names_in_order = sorted(attributes, key=str)
    marks = type(obj)._nnx_marks or {}
    for name in names_in_order:
        value = attributes[name]
        if marks.get(name, holds_state(value)):  # nnx.data / nnx.static, else by content
            children.append((_key(name), value))
        else:
            statics.append((name, value))
    names = tuple(_name(key) for key, _ in children)
    return children, (names, tuple(statics), tuple(attributes))


def _key(name: Any) -> Any:
    """The key path entry of an attribute; nnx.List / nnx.Dict entries have non-str keys."""
    if isinstance(name, str):
        return jax.tree_util.GetAttrKey(name)
    if isinstance(name, int):
        return jax.tree_util.SequenceKey(name)
    return jax.tree_util.DictKey(name)


def _name(key: Any) -> Any:
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return key.idx
    return key.key


def _flatten(obj: Object) -> tuple[list[Any], tuple[Any, ...]]:
    children, aux = _flatten_with_keys(obj)
    return [value for _, value in children], aux


def _unflatten(kind: type[Object], aux: tuple[Any, ...], children: Any) -> Object:
    names, statics, order = aux
    values = dict(statics)
    values.update(zip(names, children, strict=True))
    obj = object.__new__(kind)
    init_object(obj)  # belongs to the trace it is rebuilt in (jax unflattens inside)
    obj.__dict__.update((name, values[name]) for name in order)
    return obj


def register(kind: type[Any]) -> None:
    """Make an Object class a jax pytree (every subclass is registered on creation)."""
    jax.tree_util.register_pytree_with_keys(
        kind,
        _flatten_with_keys,
        lambda aux, children: _unflatten(kind, aux, children),
        _flatten,
    )


register(Object)
register(Module)
SUBCLASS_HOOKS.append(register)
set_object_base(Object)  # ``nnx.is_data`` counts Objects as data
