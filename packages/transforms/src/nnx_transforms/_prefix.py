"""nnx.prefix: per-Variable axes for a transform, from a function or a filter mapping.

``nnx.vmap(f, in_axes=(nnx.prefix(tree, fn),))`` maps each Variable of ``tree`` on the
axis ``fn(path, variable)`` gives it (or the first filter of a mapping that selects it).
An object becomes a ``StateAxes``; a container of Variables the same container of axes,
as a jax prefix: the two forms every mapping transform takes.

``graph=`` is accepted for Flax NNX 0.12 code and changes nothing: the axes are the same
in both modes, and, as in flax, tree mode does not refuse sharing here (the transform
that receives the node does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax

from nnx_graph import Filter, Object, State, Variable, state, to_predicate
from nnx_transforms._axes import StateAxes

AxisFn = Callable[[tuple[Any, ...], Any], Any]


def prefix(
    node: Any, filter_map: Mapping[Filter, Any] | AxisFn, /, *, graph: bool | None = None
) -> Any:
    """The axes of ``node``'s Variables, shaped for ``in_axes`` / ``out_axes``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import BatchStat, Param
    >>> from nnx_transforms import vmap
    >>> d = {'a': Param(jnp.array(2)), 'b': BatchStat(jnp.arange(5))}
    >>> axes = prefix(d, lambda path, x: 0 if 'b' in path else None)
    >>> vmap(lambda d: d['a'] * d['b'], in_axes=(axes,))(d).tolist()
    [0, 2, 4, 6, 8]
    """
    del graph  # the same axes in both modes (see the module docstring)
    axis_of = _axis_function(filter_map)
    if isinstance(node, Object):
        return _state_axes(node, filter_map, axis_of, ())

    def one(key_path: Any, leaf: Any) -> Any:
        path = tuple(_key(k) for k in key_path)
        if isinstance(leaf, Object):
            return _state_axes(leaf, filter_map, axis_of, path)
        return axis_of(path, leaf)

    return jax.tree_util.tree_map_with_path(
        one, node, is_leaf=lambda x: isinstance(x, Object | Variable)
    )


def _state_axes(node: Any, filter_map: Any, axis_of: AxisFn, at: tuple[Any, ...]) -> StateAxes:
    if isinstance(filter_map, Mapping):
        return StateAxes(dict(filter_map))
    leaves = state(node).flat_dict()
    return StateAxes(State.from_flat_path({p: axis_of((*at, *p), v) for p, v in leaves.items()}))


def _axis_function(filter_map: Mapping[Filter, Any] | AxisFn) -> AxisFn:
    if not isinstance(filter_map, Mapping):
        return filter_map
    rules = [(to_predicate(f), axis) for f, axis in filter_map.items()]

    def axis_of(path: tuple[Any, ...], leaf: Any) -> Any:
        return next((axis for predicate, axis in rules if predicate(path, leaf)), None)

    return axis_of


def _key(entry: Any) -> Any:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return getattr(entry, attribute)
    return entry
