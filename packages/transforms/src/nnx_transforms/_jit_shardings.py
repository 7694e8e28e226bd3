"""Per-argument shardings for nnx.jit, translated to the leaves jax.jit really receives.

A user states shardings per argument, as with ``jax.jit``: one ``Sharding`` (or ``None``,
unspecified) for a whole argument, a pytree prefix of a plain argument, and for an object
a ``State`` of shardings shaped like ``nnx.state(obj)`` (what ``nnx.get_named_sharding``
returns). ``jax.jit`` instead sees the flat lists of graph and other leaves of one call
structure, so the translation is made once per structure and cached with the compiled
function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from nnx_graph import State, describe, message
from nnx_graph._paths import format_path
from nnx_transforms._protocol import GRAPH_TYPES, Lifted, argument_owners, is_graph_node


def is_sharding_leaf(x: Any) -> bool:
    """What a sharding prefix bottoms out at: unspecified, a Sharding, or a State."""
    return x is None or isinstance(x, jax.sharding.Sharding | State)


def check_in_shardings(value: Any) -> tuple[Any, ...]:
    """Per-argument in_shardings: a tuple with one entry per positional argument."""
    if isinstance(value, tuple | list):
        return tuple(value)
    raise TypeError(
        message(
            f"nnx.jit: in_shardings must be a Sharding or a tuple with one entry per "
            f"positional argument, got {describe(value)}.",
            expected="NamedSharding(mesh, P()) or (nnx.get_named_sharding(nnx.state(model), "
            "mesh), data_sharding)",
            fix="wrap a single argument's entry in a tuple: in_shardings=(sharding,)",
        )
    )


def argument_leaf_entries(prefix: Any, tree: Any, name: str) -> list[Any]:
    """The prefix entry that covers each leaf of ``tree`` (objects and Variables whole)."""
    if is_sharding_leaf(prefix):
        return [prefix] * len(jax.tree_util.tree_leaves(tree, is_leaf=is_graph_node))
    if isinstance(prefix, tuple | list) and isinstance(tree, tuple | list):
        if len(prefix) == len(tree):
            return [
                entry
                for i, (p, t) in enumerate(zip(prefix, tree, strict=True))
                for entry in argument_leaf_entries(p, t, f"{name}[{i}]")
            ]
    elif isinstance(prefix, Mapping) and isinstance(tree, Mapping) and set(prefix) == set(tree):
        return [
            entry
            for key in sorted(tree)
            for entry in argument_leaf_entries(prefix[key], tree[key], f"{name}[{key!r}]")
        ]
    raise ValueError(
        message(
            f"nnx.jit: the sharding given for {name} ({describe(prefix)}) does not fit "
            f"its value ({describe(tree)}).",
            expected="a Sharding or None for the whole value, a State of shardings for an "
            "object argument, or a tuple/list/dict shaped like the value",
            fix=f"give one Sharding (or None) for all of {name}",
        )
    )


def leaf_shardings(
    in_shardings: tuple[Any, ...], lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[Any], list[Any]]:
    """The sharding of every graph leaf and every other leaf of this call (None: unspecified)."""
    if len(in_shardings) > len(args):
        raise ValueError(
            message(
                f"nnx.jit: in_shardings has {len(in_shardings)} entries for {len(args)} "
                "positional arguments.",
                expected="one entry per positional argument (keyword arguments are unspecified)",
                fix="drop the extra entries; static arguments take no entry, as in jax.jit",
            )
        )
    entries: list[Any] = []
    for i, arg in enumerate(args):
        prefix = in_shardings[i] if i < len(in_shardings) else None
        entries.extend(argument_leaf_entries(prefix, arg, f"args[{i}]"))
    owners = argument_owners(args, kwargs)
    entries.extend([None] * (len(owners) - len(entries)))
    positions = lifted.spec.object_positions
    object_positions = set(positions)
    other = []
    for j, entry in enumerate(entries):
        if j in object_positions:
            continue
        if isinstance(entry, State):
            raise ValueError(
                message(
                    f"nnx.jit: in_shardings gives a State for args[{owners[j]}] "
                    f"({describe(args[owners[j]])}), which is not an object.",
                    expected="a State of shardings only for a Module or other Object",
                    fix=f"give args[{owners[j]}] a Sharding, None, or a prefix of its pytree",
                )
            )
        other.append(entry)
    graph: list[Any] = []
    flat = lifted.flat
    several = len(positions) > 1
    start = 0
    for root, end in enumerate(flat.root_ends):
        entry = entries[positions[root]]
        paths = [path[1:] if several else path for path in flat.paths[start:end]]
        if isinstance(entry, State):
            graph.extend(_shardings_at(entry, paths, f"args[{owners[positions[root]]}]"))
        else:
            graph.extend([entry] * len(paths))
        start = end
    return graph, other


def _shardings_at(shardings: State, paths: list[tuple[Any, ...]], root: str) -> list[Any]:
    flat_state = shardings.flat_dict()
    missing = [format_path(path, root) for path in paths if path not in flat_state]
    if missing:
        raise ValueError(
            message(
                f"nnx.jit: in_shardings has no sharding for {', '.join(missing)}.",
                expected="a State of shardings covering every Variable of the object",
                fix=f"nnx.get_named_sharding(nnx.state({root}), mesh)",
            )
        )
    return [getattr(flat_state[path], "value", flat_state[path]) for path in paths]


def constrain_outputs(out_shardings: Any, outputs: Any) -> Any:
    """Lay out a function's plain outputs as ``out_shardings`` (a prefix of them) says."""
    leaves, treedef = jax.tree_util.tree_flatten(outputs, is_leaf=is_graph_node)
    entries = argument_leaf_entries(out_shardings, outputs, "the output")
    for leaf, entry in zip(leaves, entries, strict=True):
        if isinstance(entry, State) or (entry is not None and isinstance(leaf, GRAPH_TYPES)):
            raise ValueError(
                message(
                    f"nnx.jit: out_shardings gives {describe(entry)} for {describe(leaf)}.",
                    expected="a Sharding or None for each array output; returned objects "
                    "keep the layout of their Variables",
                    fix="lay out a returned object's Variables inside the function: "
                    "nnx.update(obj, jax.lax.with_sharding_constraint(nnx.state(obj), ...))",
                )
            )
    constrained = [
        leaf if entry is None else _lay_out(leaf, entry)
        for leaf, entry in zip(leaves, entries, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, constrained)


def _lay_out(value: Any, sharding: jax.sharding.Sharding) -> Any:
    """Explicit mesh axes are changed with ``reshard``; others are constrained for XLA."""
    mesh = getattr(sharding, "mesh", None)
    if mesh is not None and jax.sharding.AxisType.Explicit in mesh.axis_types:
        return jax.sharding.reshard(value, sharding)  # type: ignore[no-untyped-call]  # unannotated in jax
    return jax.lax.with_sharding_constraint(value, sharding)  # type: ignore[no-untyped-call]  # unannotated in jax
