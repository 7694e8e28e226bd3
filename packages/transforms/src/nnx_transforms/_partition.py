"""``transform_metadata={nnx.PARTITION_NAME: name}``: the mapped axis in sharding metadata.

A Variable's ``sharding`` metadata names a mesh axis per array dimension. Inside
``vmap`` / ``scan`` / ``pmap`` the mapped dimension is gone, so on the way in its entry
(which must be ``name``) is removed, and on the way out ``name`` is inserted again at
the Variable's axis, for the input objects and for objects built inside (a layer stack
made by a vmapped constructor comes out as ``('layers', None, 'model')``). Other keys
of ``transform_metadata`` do the same to the metadata entry of that name. Each change
also calls the Variable's ``remove_axis`` / ``add_axis`` (its ``on_remove_axis`` /
``on_add_axis`` hooks). It runs on the transform's copies, inside the trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nnx_graph import Variable, flatten, format_path, message
from nnx_transforms._axes import StateAxes
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import GRAPH_TYPES, tree_leaves

PARTITION_NAME = "partition_name"
_SHARDING_KEYS = ("sharding", "out_sharding")


def partitioned(
    fun: Callable[..., Any],
    transform_metadata: Mapping[str, Any] | None,
    in_axes: Any,
    out_axes: Any,
    op: str,
) -> Callable[..., Any]:
    """``fun`` that removes the mapped axis from its inputs' metadata and adds it back."""
    if not transform_metadata or PARTITION_NAME not in transform_metadata:
        return fun
    name = transform_metadata[PARTITION_NAME]
    others = {k: v for k, v in transform_metadata.items() if k != PARTITION_NAME}

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inputs = list(_mapped(args, kwargs, in_axes))
        done: set[int] = set()
        for label, variable, axis in inputs:
            if id(variable) not in done:
                done.add(id(variable))
                _remove(variable, axis, name, others, label, op)
        try:
            out = fun(*args, **kwargs)
        except BaseException:
            for _, variable, axis in inputs:  # a failed call leaves the metadata as it was
                if id(variable) in done:
                    done.discard(id(variable))
                    _add(variable, axis, name, others)
            raise
        done.clear()
        outputs = _mapped_result(out, out_axes)
        for _, variable, axis in [*inputs, *outputs]:
            if id(variable) not in done:
                done.add(id(variable))
                _add(variable, axis, name, others)
        return out

    return wrapper


def _spec_per_argument(in_axes: Any, n: int) -> list[Any]:
    if isinstance(in_axes, tuple | list) and len(in_axes) == n:
        return list(in_axes)
    return [in_axes] * n


def _mapped(
    args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any
) -> Iterator[tuple[str, Variable[Any], int]]:
    for i, (arg, spec) in enumerate(zip(args, _spec_per_argument(in_axes, len(args)), strict=True)):
        yield from _variables(arg, spec, f"args[{i}]")
    for key, arg in kwargs.items():
        yield from _variables(arg, 0, key)


def _mapped_result(out: Any, out_axes: Any) -> list[tuple[str, Variable[Any], int]]:
    if isinstance(out_axes, tuple | list) and isinstance(out, tuple) and len(out) == len(out_axes):
        return [
            found
            for i, (o, spec) in enumerate(zip(out, out_axes, strict=True))
            for found in _variables(o, spec, f"result[{i}]")
        ]
    return list(_variables(out, out_axes, "result"))


def _variables(tree: Any, spec: Any, label: str) -> Iterator[tuple[str, Variable[Any], int]]:
    """Each Variable of the objects in ``tree`` with the int axis ``spec`` gives it."""
    roots = [x for x in tree_leaves(tree) if isinstance(x, GRAPH_TYPES)]
    if not roots or not isinstance(spec, int | StateAxes) or isinstance(spec, bool):
        return
    flat = flatten(roots)
    single = len(roots) == 1
    for path, slot in zip(flat.paths, flat.slots, strict=True):
        if not isinstance(slot, Variable):
            continue
        relative = path if single else path[1:]
        axis = spec.axis_of(relative, slot) if isinstance(spec, StateAxes) else spec
        if isinstance(axis, int) and not isinstance(axis, bool):
            yield format_path(relative, label), slot, axis


def _insert(fields: Any, index: int, value: Any) -> tuple[Any, ...]:
    items = list(fields)
    while len(items) < index:
        items.append(None)
    items.insert(index, value)
    return tuple(items)


def _add(variable: Variable[Any], index: int, name: Any, others: Mapping[str, Any]) -> None:
    metadata = variable.get_metadata()
    for key in _SHARDING_KEYS:
        if metadata.get(key):
            variable.set_metadata(key, _insert(metadata[key], index, name))
    for key, value in others.items():
        if isinstance(metadata.get(key), tuple) and metadata[key]:
            variable.set_metadata(key, _insert(metadata[key], index, value))
    variable.add_axis(index, name)


def _remove(
    variable: Variable[Any],
    index: int,
    name: Any,
    others: Mapping[str, Any],
    label: str,
    op: str,
) -> None:
    metadata = variable.get_metadata()
    wanted = {key: name for key in _SHARDING_KEYS if metadata.get(key)}
    wanted.update({k: v for k, v in others.items() if isinstance(metadata.get(k), tuple)})
    updates = {}
    for key, value in wanted.items():
        items = list(metadata[key])
        found = items.pop(index) if index < len(items) else None
        if found != value:
            raise ValueError(
                message(
                    f"{op}(transform_metadata=...): the mapped axis {index} of a Variable "
                    f"is not named {value!r} in its {key!r} metadata.",
                    [f"{label}: {key}={tuple(metadata[key])!r}"],
                    expected=f"{value!r} at index {index}, as the transform put it there",
                    fix=f"{label}.set_metadata({key!r}, ({value!r}, ...))  # or drop "
                    "transform_metadata",
                )
            )
        updates[key] = tuple(items)
    for key, value in updates.items():
        variable.set_metadata(key, value)
    variable.remove_axis(index, name)


def transform_metadata(
    f: Callable[..., Any] | None = None,
    *,
    in_axes: Any = 0,
    out_axes: Any = 0,
    partition: str | None,
    graph: bool | None = None,
) -> Any:
    """``f`` sees its inputs' mapped axis out of their sharding metadata, as a jax.vmap body.

    For a function handed to a plain ``jax.vmap`` over objects: on the way in the axis
    named ``partition`` leaves each mapped Variable's ``sharding`` metadata (and
    ``on_remove_axis`` runs), on the way out it comes back (``on_add_axis``), as
    ``nnx.vmap(..., transform_metadata={nnx.PARTITION_NAME: partition})`` does.
    ``graph=False`` (tree mode) refuses arguments that reach an object or Variable by two
    paths, naming both, as Flax NNX 0.12 does.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones((4, 2)), sharding=('batch', 'model'))
    >>> seen = []
    >>> f = transform_metadata(lambda b: seen.append(b.w.out_sharding), partition='batch')
    >>> box = Box(); f(box)
    >>> seen[0], box.w.out_sharding
    (('model',), ('batch', 'model'))
    """
    if f is None:
        return functools.partial(
            transform_metadata,
            in_axes=in_axes,
            out_axes=out_axes,
            partition=partition,
            graph=graph,
        )
    op = "nnx.transform_metadata"
    modes = Modes(graph, None, op)  # the default is read here, when f is wrapped
    return modes.checked(partitioned(f, {PARTITION_NAME: partition}, in_axes, out_axes, op))
