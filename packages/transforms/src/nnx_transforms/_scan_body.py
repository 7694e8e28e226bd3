"""The pure side of ``nnx.scan``: leaves in, ``jax.lax.scan`` over the body, leaves out.

``run`` is what ``nnx.scan`` jits, keyed on a ``Plan`` (``_scan_layout``). Two things
may change the inputs' leaves inside the body beyond their values, and both come back
out as flax returns them:

- **Grown state.** A scanned object may gain Variables (``self.sow(...)`` in a stack of
  blocks): each new leaf is stacked along the object's axis, like the rest of its state.
  A carried or broadcast object may not grow: its structure is the same at every step.
- **Broadcast RNG state.** A broadcast RNG stream is read with the same key and count at
  every step, so every step draws the same numbers (one dropout mask for the whole
  sequence: recurrent dropout) and writes the same advanced count; that count is kept,
  so the next call draws new numbers. Other broadcast state stays read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import GraphDef, describe, message
from nnx_transforms._axes import NO_MATCH, StateAxes, broadcast_prefix
from nnx_transforms._axes import _CarryMarker as CarryMarker
from nnx_transforms._protocol import OutputSpec, call_pure
from nnx_transforms._scan_layout import Layout, Plan, leaf_edges, restore, variable_for_filter


class Static:
    """A value returned through ``jax.jit`` as static data (a pytree with no leaves)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


jax.tree_util.register_pytree_node(Static, lambda s: ((), s.value), lambda v, _: Static(v))


def moveaxis(tree: Any, source: int, destination: int) -> Any:
    """``jnp.moveaxis`` on every array of a leaf (a sown tuple is several)."""
    if source == destination:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, source, destination), tree)


class Regrown:
    """Where each input leaf went after the body ran: ``old[j]`` for the j-th new leaf."""

    __slots__ = ("added", "old")

    def __init__(self, old: tuple[int | None, ...], added: tuple[tuple[int, int], ...]) -> None:
        self.old = old  # the old index of each new leaf, None for a leaf the body added
        self.added = added  # (new index, axis) of each added leaf


def regrow(layout: Layout, spec: OutputSpec, in_leaves: Sequence[Any]) -> Regrown:
    """Match the inputs' leaves after the body with those before; raise on what scan can't do."""
    n = len(layout.graph_axes)
    if spec.inputs_unchanged:
        return Regrown(tuple(range(n)), ())
    old_index = {path: i for i, path in enumerate(layout.spec.graphdef.leaf_paths())}
    edges = spec.graphdef.edges[: spec.n_inputs]
    new_paths = GraphDef(edges).leaf_paths()
    removed = set(old_index).difference(new_paths)
    problems: list[str] = [
        f"{layout.graph_name(old_index[p])}: removed or replaced" for p in removed
    ]
    old: list[int | None] = []
    added: list[tuple[int, int]] = []
    single = len(layout.root_labels) == 1
    for j, (path, edge) in enumerate(zip(new_paths, leaf_edges(edges), strict=True)):
        i = old_index.get(path)
        old.append(i)
        if i is not None:
            continue
        root: int = 0 if single else path[0]  # type: ignore[assignment]  # a root index
        root_spec = layout.root_specs[root]
        axis = root_spec
        if isinstance(root_spec, StateAxes):
            relative = path if single else path[1:]
            axis = root_spec.axis_of(relative, variable_for_filter(edge, in_leaves[j]))
        name = layout.new_leaf_name(path)
        if isinstance(axis, int):
            added.append((j, axis))
        elif isinstance(axis, CarryMarker):
            problems.append(f"{name}: added to a carried object")
        elif axis is NO_MATCH:
            problems.append(f"{name}: added, and no StateAxes filter matches it")
        else:
            problems.append(f"{name}: added to a broadcast object (in_axes None)")
    if problems:
        raise ValueError(
            message(
                "nnx.scan: the loop body changed the structure of a carried or broadcast "
                "object; it must be the same at every step.",
                sorted(problems),
                expected="new Variables (sow, a new attribute) only in scanned objects "
                "(in_axes an int), where they are stacked like the rest of their state",
                fix="create them before the loop (run the module once outside the scan), "
                "or scan the object with in_axes=0",
            )
        )
    return Regrown(tuple(old), tuple(added))


def _check_broadcast(
    layout: Layout, regrown: Regrown, after: Sequence[Any], before: Sequence[Any]
) -> list[int]:
    """The broadcast RNG leaves the body advanced; raise for any other broadcast change."""
    new_of = {i: j for j, i in enumerate(regrown.old) if i is not None}
    changed = [i for i in layout.g_bcast if after[new_of[i]] is not before[i]]
    wrong = [layout.graph_name(i) for i in changed if i not in layout.rng]
    if wrong:
        raise ValueError(
            message(
                "nnx.scan: state of a broadcast argument (in_axes None) was modified inside.",
                wrong,
                expected="broadcast state to be read-only across iterations (RNG streams "
                "excepted: they draw the same numbers at every step)",
                fix="scan that state (in_axes=0 with a stacked copy) or carry it (nnx.Carry)",
            )
        )
    return changed


def run(
    plan: Plan,
    graph_values: list[Any],
    others: list[Any],
    *,
    f: Callable[..., Any],
    options: dict[str, Any],
    out_axes: Any,
) -> tuple[OutputSpec, Static, list[Any], list[Any], list[Any]]:
    """Scan ``f`` over the leaves; the inputs' new leaves with broadcast ones left out.

    Returns the OutputSpec, ``Static((new index, old index), ...)`` of the broadcast
    leaves the caller keeps as they were, the other input leaves in new order, the
    returned objects' leaves and the result's dynamic leaves.
    """
    layout = plan.layout
    graph_values = restore(graph_values, plan.graph_statics)
    others = restore(others, plan.other_statics)
    la = layout
    init = ([graph_values[i] for i in la.g_carry], [others[i] for i in la.o_carry])
    xs = (
        [moveaxis(graph_values[i], la.graph_axes[i], 0) for i in la.g_scan],
        [moveaxis(others[i], la.other_axes[i], 0) for i in la.o_scan],
    )
    box: dict[str, Any] = {}

    def body(carry: Any, x: Any) -> Any:
        graph_leaves = _fill(
            len(graph_values),
            (la.g_carry, carry[0]),
            (la.g_scan, x[0]),
            (la.g_bcast, [graph_values[i] for i in la.g_bcast]),
        )
        other_leaves = _fill(
            len(others),
            (la.o_carry, carry[1]),
            (la.o_scan, x[1]),
            (la.o_bcast, [others[i] for i in la.o_bcast]),
        )
        spec, in_leaves, new_leaves, dynamic = call_pure(
            f, la.spec, graph_leaves, other_leaves, changed_only=False, op="nnx.scan"
        )
        regrown = regrow(la, spec, in_leaves)
        advanced = _check_broadcast(la, regrown, in_leaves, graph_leaves)
        new_of = {i: j for j, i in enumerate(regrown.old) if i is not None}
        axes = _out_axes_per_leaf(spec, out_axes)
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
        new_carry = ([in_leaves[new_of[i]] for i in la.g_carry], carry_dyn)
        _check_carry_types(la, carry, new_carry)
        box.update(spec=spec, regrown=regrown, advanced=advanced, axes=axes)
        ys = (
            [in_leaves[new_of[i]] for i in la.g_scan],
            [in_leaves[new_of[i]] for i in advanced],
            [in_leaves[j] for j, _ in regrown.added],
            ys_dyn,
            ys_new,
        )
        return new_carry, ys

    final, (scanned, advanced_ys, added_ys, ys_dyn, ys_new) = jax.lax.scan(
        body, init, xs, **options
    )
    spec, regrown = box["spec"], box["regrown"]
    old_values: dict[int, Any] = dict(zip(la.g_carry, final[0], strict=True))
    for i, v in zip(la.g_scan, scanned, strict=True):
        old_values[i] = moveaxis(v, 0, la.graph_axes[i])
    for i, v in zip(box["advanced"], advanced_ys, strict=True):
        old_values[i] = jax.tree_util.tree_map(lambda a: a[0], v)  # every step wrote it
    added_values = {
        j: moveaxis(v, 0, axis) for (j, axis), v in zip(regrown.added, added_ys, strict=True)
    }
    kept: list[tuple[int, int]] = []
    in_leaves: list[Any] = []
    for j, i in enumerate(regrown.old):
        if i is None:
            in_leaves.append(added_values[j])
        elif i in old_values:
            in_leaves.append(old_values[i])
        else:
            kept.append((j, i))  # broadcast and unchanged: the caller's own value
    new_leaves, dynamic = _join_result(spec, box["axes"], final[1], ys_dyn, ys_new)
    return spec, Static(tuple(kept)), in_leaves, new_leaves, dynamic


def _fill(n: int, *groups: tuple[Sequence[int], Sequence[Any]]) -> list[Any]:
    values: list[Any] = [None] * n
    for indices, group in groups:
        for i, v in zip(indices, group, strict=True):
            values[i] = v
    return values


def _out_axes_per_leaf(spec: OutputSpec, out_axes: Any) -> list[Any]:
    placeholder = jax.tree_util.tree_unflatten(spec.out_treedef, range(spec.out_treedef.num_leaves))
    return broadcast_prefix(out_axes, placeholder, "nnx.scan", "out_axes")


def _check_carry_types(layout: Layout, before: Any, after: Any) -> None:
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
    graph_names = [layout.graph_names[i] for i in layout.g_carry]
    other_names = [layout.other_names[i] for i in layout.o_carry]
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
            if isinstance(axis, CarryMarker) and size:
                raise ValueError(
                    message(
                        "nnx.scan: an object built inside the loop was returned as the carry.",
                        expected="the carry to hold the objects passed in as the carry",
                        fix="create the object outside and pass it in as the Carry",
                    )
                )
            ys_new.extend(new_leaves[start : start + size])
            start += size
        elif isinstance(axis, CarryMarker):
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
                new_leaves.append(moveaxis(next(new_iter), 0, axis))
        elif isinstance(axis, CarryMarker):
            dynamic.append(next(carry_iter))
        else:
            dynamic.append(moveaxis(next(ys_iter), 0, axis))
    return new_leaves, dynamic
