"""nnx.vmap: vectorise a function over Objects' state.

An Object argument mapped on an axis has every leaf of its state mapped on that axis
(or per filter, with StateAxes); a returned Object that was built inside, like a model
made by a vmapped constructor, comes out stacked along ``out_axes`` (again per filter
with StateAxes). Input objects' state comes back on the axes it went in on, so updates
made inside are kept, and so is state the function adds to them (a vmapped
``__init__``): it takes the axis its object's ``in_axes`` gives it.

Which leaves exist, and so which axis each one needs, is only known once the function
has been traced, but ``jax.vmap`` wants ``out_axes`` before. So the traced function
returns its leaves grouped by axis, one list per axis value the specs can name (fixed
up front), with the grouping as static data to undo it afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from nnx_graph import FlatGraph, TraceContextError, Variable, describe, format_path, message
from nnx_transforms._axes import (
    StateAxes,
    _NoMatch,
    argument_axes,
    broadcast_prefix,
    check_axis_values,
    leaf_axes,
)
from nnx_transforms._binding import bind_arguments
from nnx_transforms._captured import explain
from nnx_transforms._escaped import origin_of
from nnx_transforms._graph_modes import Modes
from nnx_transforms._naming import argument_names
from nnx_transforms._partition import partitioned
from nnx_transforms._protocol import (
    Lifted,
    OutputSpec,
    Walked,
    apply,
    enter,
    leave,
    lift,
    tree_leaves,
    walk_result,
)
from nnx_transforms._vmap_checks import (
    axis_at,
    check_argument_aliasing,
    check_captured,
    check_result_aliasing,
    result_names,
    unmatched_error,
)
from nnx_transforms._vmap_sizes import axis_size_error, broadcast_error


def require_same_structure(spec: OutputSpec, op: str) -> None:
    """Vmap and scan need the inputs' structure to hold: their out_axes are fixed up front."""
    if not spec.inputs_unchanged:
        raise ValueError(
            message(
                f"{op}: the function changed the structure of an input object (an attribute "
                "or Variable added, removed or replaced, or a static attribute set).",
                expected="only Variable values to change inside a mapped or scanned function",
                fix="make structural changes outside, or return new objects instead",
            )
        )


class _Layout:
    """Which axis group each value the traced function returned went to, in order.

    Static: it rides through ``jax.vmap`` as a pytree with no leaves (out_axes None).
    """

    __slots__ = ("groups",)

    def __init__(self, groups: tuple[int, ...]) -> None:
        self.groups = groups

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Layout) and self.groups == other.groups

    def __hash__(self) -> int:
        return hash(self.groups)


jax.tree_util.register_pytree_node(
    _Layout, lambda layout: ((), layout.groups), lambda groups, _: _Layout(groups)
)


def _is_axis_leaf(x: Any) -> bool:
    return x is None or isinstance(x, StateAxes)


def axis_values(specs: Sequence[Any]) -> tuple[Any, ...]:
    """Every axis (an int or None) the specs can give a leaf, once each, in a fixed order."""
    found: list[Any] = []
    for leaf in jax.tree_util.tree_leaves(list(specs), is_leaf=_is_axis_leaf):
        for axis in leaf.axes if isinstance(leaf, StateAxes) else (leaf,):
            if axis not in found:
                found.append(axis)
    return tuple(found)


def _ungroup(groups: Sequence[Sequence[Any]], layout: _Layout) -> list[Any]:
    its = [iter(group) for group in groups]
    return [next(its[g]) for g in layout.groups]


def _axes_of(flat: FlatGraph, root: int, spec: Any, name: str, unmatched: list[str]) -> list[Any]:
    """The axis ``spec`` gives each leaf of ``flat``'s root ``root``, named from ``name``."""
    start = flat.root_ends[root - 1] if root else 0
    single = len(flat.root_ends) == 1
    if not isinstance(spec, StateAxes):
        return [spec] * (flat.root_ends[root] - start)
    axes = []
    for i in range(start, flat.root_ends[root]):
        path = flat.paths[i] if single else flat.paths[i][1:]
        slot = flat.slots[i]
        axis = axis_at(spec, path, slot, flat.leaves[i])
        if isinstance(axis, _NoMatch):
            value = slot if isinstance(slot, Variable) else flat.leaves[i]
            unmatched.append(f"{format_path(path, name)}: {describe(value)}")
        axes.append(axis)
    return axes


class _Traced:
    """What the last trace of the mapped function learned, for the error path."""

    __slots__ = ("layout", "names")

    def __init__(self) -> None:
        self.layout: tuple[int, ...] = ()
        self.names: Callable[[], list[str]] = list


def mapped_call(
    f: Callable[..., Any],
    lifted: Lifted,
    graph_axes: list[Any],
    root_specs: list[Any],
    root_names: list[str],
    out_axes: Any,
    values: tuple[Any, ...],
) -> tuple[Callable[[list[Any], list[Any]], Any], _Traced]:
    """The pure function vmap transforms: leaves in, its results grouped by axis out.

    Input leaves take their object's in_axes (recomputed per leaf when the function
    changed the structure, so added state gets one); returned objects' new leaves and
    the result's arrays take ``out_axes``.
    """
    spec = lifted.spec
    traced = _Traced()

    def pure(
        graph_leaves: list[Any], other_leaves: list[Any]
    ) -> tuple[OutputSpec, _Layout, tuple[list[Any], ...]]:
        entered = enter(spec, graph_leaves, other_leaves)
        try:
            out = f(*entered.args, **entered.kwargs)
        except TraceContextError as error:
            clearer = explain(error, f)
            if clearer is None:
                raise
            raise clearer from error
        walked = walk_result(entered, out)
        check_captured(f, walked, list(entered.nodes.values()), out)
        n_inputs = len(entered.roots)
        unmatched: list[str] = []
        in_axes = graph_axes
        if walked.flat.graphdef.edges[:n_inputs] != spec.graphdef.edges:
            in_axes = [
                axis
                for r in range(n_inputs)
                for axis in _axes_of(walked.flat, r, root_specs[r], root_names[r], unmatched)
            ]
        out_specs = broadcast_prefix(out_axes, out, "nnx.vmap", "out_axes")
        new_axes = _new_axes(walked, n_inputs, out_specs, out, unmatched)
        if unmatched:
            raise unmatched_error("nnx.vmap", unmatched)
        if walked.object_positions:
            n_in = walked.flat.root_ends[n_inputs - 1] if n_inputs else 0
            names = _input_names(walked.flat, n_inputs, root_names)
            check_result_aliasing(walked, n_in, in_axes, names, out_specs, out)
        out_spec, in_leaves, new_leaves, dynamic = leave(
            entered,
            out,
            graph_leaves,
            changed_only=False,
            walked=walked,
            origin=origin_of("nnx.vmap", f),
        )
        skip = set(out_spec.out_object_positions) | {p for p, _ in out_spec.out_statics}
        dynamic_axes = [axis for i, axis in enumerate(out_specs) if i not in skip]
        _check_dynamic_axes(dynamic_axes)
        groups, traced.layout = _grouped(
            [*in_leaves, *new_leaves, *dynamic], [*in_axes, *new_axes, *dynamic_axes], values
        )
        traced.names = lambda: _value_names(walked, n_inputs, root_names, out, skip)
        return out_spec, _Layout(traced.layout), groups

    return pure, traced


def _new_axes(
    walked: Walked, n_inputs: int, out_specs: list[Any], out: Any, unmatched: list[str]
) -> list[Any]:
    """The out axis of every new leaf of every returned object."""
    if not walked.object_positions:
        return []
    names = result_names(out)
    return [
        axis
        for k, position in enumerate(walked.object_positions)
        for axis in _axes_of(
            walked.flat, n_inputs + k, out_specs[position], names[position], unmatched
        )
    ]


def _check_dynamic_axes(axes: list[Any]) -> None:
    if any(isinstance(axis, StateAxes) for axis in axes):
        raise ValueError(
            message(
                "nnx.vmap: StateAxes in out_axes was given for a result that is not an Object.",
                expected="StateAxes only where an Object is returned; an int or None for arrays",
                fix="use an int or None for that result",
            )
        )


def _grouped(
    leaves: list[Any], axes: list[Any], values: tuple[Any, ...]
) -> tuple[tuple[list[Any], ...], tuple[int, ...]]:
    """The leaves in one list per axis value, and which list each leaf went to."""
    index = {axis: i for i, axis in enumerate(values)}
    groups: tuple[list[Any], ...] = tuple([] for _ in values)
    layout = []
    for leaf, axis in zip(leaves, axes, strict=True):
        groups[index[axis]].append(leaf)
        layout.append(index[axis])
    return groups, tuple(layout)


def _input_names(flat: FlatGraph, n_inputs: int, root_names: list[str]) -> list[str]:
    return [name for r in range(n_inputs) for name in _leaf_names(flat, r, root_names[r])]


def _value_names(
    walked: Walked, n_inputs: int, root_names: list[str], out: Any, skip: set[int]
) -> list[str]:
    """The name of every value the traced function returned, in order (error path)."""
    names = result_names(out)
    new = [
        name
        for k, position in enumerate(walked.object_positions)
        for name in _leaf_names(walked.flat, n_inputs + k, names[position])
    ]
    dynamic = [name for i, name in enumerate(names) if i not in skip]
    return [*_input_names(walked.flat, n_inputs, root_names), *new, *dynamic]


def _leaf_names(flat: FlatGraph, root: int, name: str) -> list[str]:
    start = flat.root_ends[root - 1] if root else 0
    single = len(flat.root_ends) == 1
    return [
        format_path(flat.paths[i] if single else flat.paths[i][1:], name)
        for i in range(start, flat.root_ends[root])
    ]


def _user_names(
    args: tuple[Any, ...], kwargs: dict[str, Any], bound: dict[int, str]
) -> tuple[list[str], dict[str, int]]:
    """Each argument leaf's name as the user wrote it, and each argument's position."""
    names = argument_names(args, kwargs)
    for i, keyword in bound.items():
        prefix = f"args[{i}]"
        names = [keyword + n[len(prefix) :] if n.startswith(prefix) else n for n in names]
    positions = {f"args[{i}]": i for i in range(len(args))}
    positions.update({keyword: i for i, keyword in bound.items()})
    return names, positions


def vmap(
    f: Callable[..., Any] | None = None,
    *,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Any = None,
    axis_size: int | None = None,
    spmd_axis_name: Any = None,
    transform_metadata: Mapping[str, Any] | None = None,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.vmap`` for functions whose arguments and results may be Objects.

    Keyword arguments that name positional parameters take those positions' in_axes.
    A function may add state to an input object (a vmapped ``__init__``): it comes back
    on that object's in_axes. One object must have one axis everywhere: in every
    argument holding it, and in out_axes where it is returned.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self, key):
    ...         self.w = Param(jax.random.normal(key, ()))
    >>> make = vmap(Scale, in_axes=0, out_axes=0)
    >>> make(jax.random.split(jax.random.key(0), 3)).w.value.shape
    (3,)
    """
    if f is None:
        return functools.partial(
            vmap,
            in_axes=in_axes,
            out_axes=out_axes,
            axis_name=axis_name,
            axis_size=axis_size,
            spmd_axis_name=spmd_axis_name,
            transform_metadata=transform_metadata,
            graph=graph,
            graph_updates=graph_updates,
        )
    check_axis_values(axis_values([out_axes]), "nnx.vmap")
    modes = Modes(graph, graph_updates, "nnx.vmap")
    f = modes.function(partitioned(f, transform_metadata, in_axes, out_axes, "nnx.vmap"))

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args, kwargs, bound = bind_arguments(f, args, kwargs, in_axes, "nnx.vmap")
        lifted = lift(args, kwargs, fun=f, op="nnx.vmap")
        graph_axes, other_axes = leaf_axes(lifted, args, kwargs, in_axes, "nnx.vmap")
        check_axis_values([*graph_axes, *other_axes], "nnx.vmap")
        per_leaf = argument_axes(args, kwargs, in_axes, "nnx.vmap")
        positions = lifted.spec.object_positions
        root_specs = [per_leaf[p] for p in positions]
        names, arg_positions = _user_names(args, kwargs, bound)
        root_names = [names[p] for p in positions]
        leaves = tree_leaves((args, kwargs))
        check_argument_aliasing([leaves[p] for p in positions], root_specs, root_names, "nnx.vmap")
        values = axis_values([*root_specs, out_axes])
        pure, traced = mapped_call(f, lifted, graph_axes, root_specs, root_names, out_axes, values)
        mapped = jax.vmap(
            pure,
            in_axes=(graph_axes, other_axes),
            out_axes=(None, None, values),
            axis_name=axis_name,
            axis_size=axis_size,
            spmd_axis_name=spmd_axis_name,
        )
        try:
            out_spec, layout, groups = mapped(lifted.flat.read_leaves(), lifted.other_leaves)
        except ValueError as error:
            clearer = axis_size_error(
                f, lifted, names, arg_positions, (graph_axes, other_axes), in_axes, axis_size
            ) or broadcast_error(error, traced.layout, traced.names, values)
            if clearer is None:
                raise
            raise clearer from error
        results = _ungroup(groups, layout)
        n_in = out_spec.n_input_leaves
        n_new = n_in + sum(out_spec.out_root_sizes)
        return apply(lifted.flat, out_spec, results[:n_in], results[n_in:n_new], results[n_new:])

    return modes.checked(wrapper)
