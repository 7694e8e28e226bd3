"""Names for the leaves of a transformed call, written the way the user would type them.

JAX reports a bad argument by its place among the pure function's inputs
(``kept_graph[0]``, ``graph_leaves[1]``, ``carry[1][0]``): names the user never wrote.
A transform that catches such an error (on the error path only, so a successful call
pays nothing) names each leaf instead from the user's own call: ``args[0].name`` for a
Variable inside the first argument, ``args[1]['x']`` for an entry of a dict argument,
``scale`` for a keyword argument.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from nnx_graph import format_path
from nnx_transforms._labels import positional_labels as positional_labels
from nnx_transforms._protocol import Lifted, is_graph_node

# dtype kinds jax cannot trace: objects, bytes, strings, datetimes, timedeltas.
_UNTRACEABLE_KINDS = frozenset("OSUMm")
_SCALARS = (bool, int, float, complex)


def argument_names(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    numbering: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """For each leaf of ``(args, kwargs)`` (objects kept whole), how the user reaches it.

    ``numbering`` gives each positional argument its number in the user's call, where
    static arguments were taken out of ``args`` first; ``labels`` names each positional
    argument instead (``positional_labels``: the function's own parameter names).

    >>> argument_names((1, {'x': 2}), {'scale': 3})
    ['args[0]', "args[1]['x']", 'scale']
    >>> argument_names((1,), {}, labels=['block'])
    ['block']
    """
    keyed, _ = jax.tree_util.tree_flatten_with_path((args, kwargs), is_leaf=is_graph_node)
    names = []
    for keys, _leaf in keyed:
        where, first, *rest = keys
        if where.idx == 0:  # positional: (args, kwargs)[0][i]
            number = first.idx if numbering is None else numbering[first.idx]
            label = f"args[{number}]" if labels is None else labels[number]
            names.append(f"{label}{jax.tree_util.keystr(tuple(rest))}")
        else:
            names.append(f"{first.key}{jax.tree_util.keystr(tuple(rest))}")
    return names


def graph_leaf_names(lifted: Lifted, names: list[str]) -> list[str]:
    """For each graph leaf of ``lifted``, its path from the argument holding its root."""
    flat = lifted.flat
    positions = lifted.spec.object_positions
    single = len(positions) == 1
    result = []
    root = 0
    for i, path in enumerate(flat.paths):
        while i >= flat.root_ends[root]:
            root += 1
        relative = path if single else path[1:]
        result.append(format_path(relative, names[positions[root]]))
    return result


def other_leaf_names(lifted: Lifted, names: list[str]) -> list[str]:
    """The names of the argument leaves that are not objects, in ``other_leaves`` order."""
    objects = set(lifted.spec.object_positions)
    return [name for i, name in enumerate(names) if i not in objects]


def is_traceable(value: Any) -> bool:
    """Whether JAX can trace ``value`` as an array (None is an empty pytree, so it can)."""
    if value is None or isinstance(value, (jax.Array, *_SCALARS, jax.ShapeDtypeStruct)):
        return True
    if isinstance(value, np.ndarray | np.generic):
        return value.dtype.kind not in _UNTRACEABLE_KINDS
    return hasattr(value, "__jax_array__")


def shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of an array or scalar leaf, None for anything else."""
    if isinstance(value, _SCALARS):
        return ()
    shape = getattr(value, "shape", None)
    return tuple(shape) if isinstance(shape, tuple) else None


def function_name(fun: Callable[..., Any]) -> str:
    """The name to write a fix with: the function's own, or ``f`` for a lambda."""
    name = getattr(inspect.unwrap(fun), "__name__", "f")
    return "f" if name == "<lambda>" else name
