"""nnx.scan: loop a function over a stacked axis, as ``jax.lax.scan`` with a vmap-like API.

``in_axes`` says, per argument, whether it is the carry (``Carry``), scanned over an
axis (an int, or StateAxes for an Object), or broadcast (``None``); ``out_axes`` does
the same for the result. A scanned Object (a stack of layers made by ``nnx.vmap``) is
sliced per step, and the state each step writes (BatchNorm statistics, RNG counts) is
stacked back, so updates propagate out. A broadcast Object is read-only inside.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import describe, format_path, message
from nnx_transforms._axes import Carry, _CarryMarker, broadcast_prefix, leaf_axes
from nnx_transforms._naming import argument_names, graph_leaf_names, other_leaf_names
from nnx_transforms._protocol import Lifted, OutputSpec, apply, call_pure, lift
from nnx_transforms._vmap import require_same_structure


def _indices(axes: Sequence[Any], kind: str) -> list[int]:
    if kind == "carry":
        return [i for i, a in enumerate(axes) if isinstance(a, _CarryMarker)]
    if kind == "scan":
        return [i for i, a in enumerate(axes) if isinstance(a, int)]
    return [i for i, a in enumerate(axes) if a is None]


def _fill(n: int, *groups: tuple[Sequence[int], Sequence[Any]]) -> list[Any]:
    values: list[Any] = [None] * n
    for indices, group in groups:
        for i, v in zip(indices, group, strict=True):
            values[i] = v
    return values


def _out_axes_per_leaf(spec: OutputSpec, out_axes: Any) -> list[Any]:
    placeholder = jax.tree_util.tree_unflatten(spec.out_treedef, range(spec.out_treedef.num_leaves))
    axes = broadcast_prefix(out_axes, placeholder, "nnx.scan", "out_axes")
    for axis in axes:
        if axis is None:
            raise ValueError(
                message(
                    "nnx.scan: out_axes None (a broadcast result) is not supported.",
                    expected="Carry for the carried result and an int for stacked results",
                    fix="return the value as part of the Carry, or stack it with out_axes=0",
                )
            )
    return axes


def scan(
    f: Callable[..., Any] | None = None,
    *,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    in_axes: Any = (Carry, 0),
    out_axes: Any = (Carry, 0),
) -> Any:
    """``jax.lax.scan`` over Objects, with per-argument axes like ``vmap``.

    >>> import jax.numpy as jnp
    >>> @scan(in_axes=(Carry, 0), out_axes=(Carry, 0))
    ... def cumsum(total, x):
    ...     total = total + x
    ...     return total, total
    >>> total, running = cumsum(jnp.array(0.0), jnp.arange(4.0))
    >>> float(total), running.tolist()
    (6.0, [0.0, 1.0, 3.0, 6.0])
    """
    if f is None:
        return functools.partial(
            scan, length=length, reverse=reverse, unroll=unroll, in_axes=in_axes, out_axes=out_axes
        )

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lifted = lift(args, kwargs)
        flat = lifted.flat
        graph_axes, other_axes = leaf_axes(lifted, args, kwargs, in_axes, "nnx.scan")
        g_carry, g_scan, g_bcast = (_indices(graph_axes, k) for k in ("carry", "scan", "bcast"))
        o_carry, o_scan, o_bcast = (_indices(other_axes, k) for k in ("carry", "scan", "bcast"))
        graph_values = flat.read_leaves()
        others = lifted.other_leaves
        n_graph, n_other = len(graph_values), len(others)
        init = ([graph_values[i] for i in g_carry], [others[i] for i in o_carry])
        xs = (
            [jnp.moveaxis(graph_values[i], graph_axes[i], 0) for i in g_scan],
            [jnp.moveaxis(others[i], other_axes[i], 0) for i in o_scan],
        )
        g_fixed = [graph_values[i] for i in g_bcast]
        o_fixed = [others[i] for i in o_bcast]
        out_axes_box: list[list[Any]] = []

        def body(carry: Any, x: Any) -> Any:
            graph_leaves = _fill(n_graph, (g_carry, carry[0]), (g_scan, x[0]), (g_bcast, g_fixed))
            other_leaves = _fill(n_other, (o_carry, carry[1]), (o_scan, x[1]), (o_bcast, o_fixed))
            spec, in_leaves, new_leaves, dynamic = call_pure(
                f, lifted.spec, graph_leaves, other_leaves, changed_only=False
            )
            require_same_structure(spec, "nnx.scan")
            _check_broadcast_unchanged(flat.paths, g_bcast, in_leaves, graph_leaves)
            axes = _out_axes_per_leaf(spec, out_axes)
            out_axes_box.append(axes)
            carry_dyn, ys_dyn, ys_new = _split_result(spec, axes, new_leaves, dynamic)
            if len(carry_dyn) != len(carry[1]):
                raise ValueError(
                    message(
                        f"nnx.scan: the carry returned holds {len(carry_dyn)} array(s) but the "
                        f"carry passed in holds {len(carry[1])}.",
                        expected="the carried result to have the structure of the carried input",
                        fix="return the carry in the same form it was passed",
                    )
                )
            new_carry = ([in_leaves[i] for i in g_carry], carry_dyn)
            _check_carry_types(
                carry, new_carry, lambda: _carry_names(lifted, args, kwargs, g_carry, o_carry)
            )
            return new_carry, (spec, [in_leaves[i] for i in g_scan], ys_dyn, ys_new)

        final, (spec, scanned, ys_dyn, ys_new) = jax.lax.scan(
            body, init, xs, length=length, reverse=reverse, unroll=unroll
        )
        axes = out_axes_box[-1]
        in_leaves = _fill(
            n_graph,
            (g_carry, final[0]),
            (
                g_scan,
                [jnp.moveaxis(v, 0, graph_axes[i]) for i, v in zip(g_scan, scanned, strict=True)],
            ),
            (g_bcast, g_fixed),
        )
        new_leaves, dynamic = _join_result(spec, axes, final[1], ys_dyn, ys_new)
        return apply(flat, spec, in_leaves, new_leaves, dynamic)

    return wrapper


def _check_carry_types(
    before: Any, after: Any, names: Callable[[], tuple[list[str], list[str]]]
) -> None:
    """Raise naming each carried value whose shape or dtype the body changed.

    ``jax.lax.scan`` would name it ``carry[1][0]``, its place in the pure body's carry;
    this runs at trace time, so it costs nothing per call. A weakly typed input (a
    Python scalar) may take the body's dtype, as jax.lax.scan allows.
    """
    changed = [
        (group, j, old, new)
        for group in (0, 1)
        for j, (old, new) in enumerate(zip(before[group], after[group], strict=True))
        if _type_changed(old, new)
    ]
    if not changed:
        return
    graph_names, other_names = names()
    problems = [
        f"{(graph_names, other_names)[group][j]}: goes in as {describe(old)}, comes back as "
        f"{describe(new)}"
        for group, j, old, new in changed
    ]
    group, j, _, new = changed[0]
    first = (graph_names, other_names)[group][j]
    raise TypeError(
        message(
            "nnx.scan: the loop body returns a carry whose shape or dtype differs from the "
            "carry it received.",
            problems,
            expected="every carried value to keep its shape and dtype from one step to the next",
            fix=f"keep its shape and dtype in the body, or start {first} as the body "
            f"returns it: jnp.zeros({tuple(jnp.shape(new))}, jnp.{jnp.result_type(new)})",
        )
    )


def _type_changed(old: Any, new: Any) -> bool:
    before, after = jax.typeof(old), jax.typeof(new)
    if before.shape != after.shape:
        return True
    return before.dtype != after.dtype and not before.weak_type


def _carry_names(
    lifted: Lifted,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    graph_carry: Sequence[int],
    other_carry: Sequence[int],
) -> tuple[list[str], list[str]]:
    """The user's names of the carried graph leaves and carried argument leaves."""
    names = argument_names(args, kwargs)
    graph = graph_leaf_names(lifted, names)
    other = other_leaf_names(lifted, names)
    return [graph[i] for i in graph_carry], [other[i] for i in other_carry]


def _check_broadcast_unchanged(
    paths: Sequence[Any], indices: Sequence[int], after: Sequence[Any], before: Sequence[Any]
) -> None:
    changed = [format_path(paths[i]) for i in indices if after[i] is not before[i]]
    if changed:
        raise ValueError(
            message(
                "nnx.scan: state of a broadcast argument (in_axes None) was modified inside.",
                changed,
                expected="broadcast state to be read-only across iterations",
                fix="scan that state (in_axes=0 with a stacked copy) or carry it (nnx.Carry)",
            )
        )


def _split_result(
    spec: OutputSpec, axes: list[Any], new_leaves: Sequence[Any], dynamic: Sequence[Any]
) -> tuple[list[Any], list[Any], list[Any]]:
    objects = dict(zip(spec.out_object_positions, spec.out_root_sizes, strict=True))
    statics = {p for p, _ in spec.out_statics}
    carry_dyn: list[Any] = []
    ys_dyn: list[Any] = []
    ys_new: list[Any] = []
    dyn = iter(dynamic)
    start = 0
    for position, axis in enumerate(axes):
        if position in statics:
            continue
        if position in objects:
            size = objects[position]
            if isinstance(axis, _CarryMarker) and size:
                raise ValueError(
                    message(
                        "nnx.scan: an object built inside the loop was returned as the carry.",
                        expected="the carry to hold the objects passed in as the carry",
                        fix="create the object outside and pass it in as the Carry",
                    )
                )
            ys_new.extend(new_leaves[start : start + size])
            start += size
        elif isinstance(axis, _CarryMarker):
            carry_dyn.append(next(dyn))
        else:
            ys_dyn.append(next(dyn))
    return carry_dyn, ys_dyn, ys_new


def _join_result(
    spec: OutputSpec,
    axes: list[Any],
    carry_dyn: Sequence[Any],
    ys_dyn: Sequence[Any],
    ys_new: Sequence[Any],
) -> tuple[list[Any], list[Any]]:
    objects = dict(zip(spec.out_object_positions, spec.out_root_sizes, strict=True))
    statics = {p for p, _ in spec.out_statics}
    carry_iter, ys_iter, new_iter = iter(carry_dyn), iter(ys_dyn), iter(ys_new)
    new_leaves, dynamic = [], []
    for position, axis in enumerate(axes):
        if position in statics:
            continue
        if position in objects:
            for _ in range(objects[position]):
                new_leaves.append(jnp.moveaxis(next(new_iter), 0, axis))
        elif isinstance(axis, _CarryMarker):
            dynamic.append(next(carry_iter))
        else:
            dynamic.append(jnp.moveaxis(next(ys_iter), 0, axis))
    return new_leaves, dynamic
