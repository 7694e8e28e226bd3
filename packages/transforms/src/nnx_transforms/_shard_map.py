"""nnx.shard_map: ``jax.shard_map`` for functions whose arguments may be Objects.

``in_specs`` is a prefix of the arguments, as in JAX; an Object's entry is a
PartitionSpec for all of its state, a ``StateSharding`` (one spec per filter) or a State
of specs. Inside, the function sees its shard of every Variable; outside, the objects'
updated state comes back as global arrays sharded as it went in, and ``out_specs`` says
how results (objects returned included) are put together.

Which leaves the function returns is only known once it has been traced, while
``jax.shard_map`` matches ``out_specs`` against the result: so the traced function
returns its leaves grouped by spec, one list per spec the call names (fixed up front).
The mapped function is cached per input structure, so a repeated call re-traces nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import jax
from jax.sharding import PartitionSpec

from nnx_graph import FlatGraph, State, Variable, describe, format_path, message
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import (
    Entered,
    Lifted,
    OutputSpec,
    Walked,
    apply,
    call_pure,
    lift,
    tree_leaves,
)
from nnx_transforms._state_sharding import NO_SHARDING, StateSharding

OP = "nnx.shard_map"
REPLICATED: PartitionSpec = PartitionSpec()  # type: ignore[no-untyped-call]  # jax: no annotations


def is_spec(x: Any) -> bool:
    """A leaf of an ``in_specs`` / ``out_specs`` prefix (PartitionSpec is a tuple)."""
    return x is None or isinstance(x, PartitionSpec | StateSharding | State)


def spec_prefix(spec: Any, tree: Any, name: str, op: str = OP) -> list[Any]:
    """One spec per leaf of ``tree`` (objects whole), from a prefix ``spec``."""
    if is_spec(spec):
        return [spec] * len(tree_leaves(tree))
    if isinstance(spec, tuple | list) and isinstance(tree, tuple | list) and len(spec) == len(tree):
        return [
            s for sp, sub in zip(spec, tree, strict=True) for s in spec_prefix(sp, sub, name, op)
        ]
    if isinstance(spec, dict) and isinstance(tree, dict) and set(spec) == set(tree):
        return [s for k in sorted(tree) for s in spec_prefix(spec[k], tree[k], name, op)]
    raise ValueError(
        message(
            f"{op}: {name}={spec!r} does not fit the structure of the values it applies to.",
            [f"values: {jax.tree_util.tree_structure(tree)}"],
            expected=f"{name} to be a PartitionSpec, StateSharding or State of specs, or a "
            "tuple/list/dict of them with one entry per argument or element",
            fix=f"{name}=(P(), P('data'))  # one spec per positional argument",
        )
    )


def _normalize(spec: Any) -> PartitionSpec:
    return REPLICATED if spec is None else spec


def leaf_specs(
    flat: FlatGraph, root: int, spec: Any, name: str, unmatched: list[str]
) -> list[PartitionSpec]:
    """The spec ``spec`` gives each leaf of ``flat``'s root ``root``, named from ``name``."""
    start = flat.root_ends[root - 1] if root else 0
    if isinstance(spec, State):
        spec = StateSharding(spec)
    if not isinstance(spec, StateSharding):
        return [_normalize(spec)] * (flat.root_ends[root] - start)
    single = len(flat.root_ends) == 1
    specs = []
    for i in range(start, flat.root_ends[root]):
        path = flat.paths[i] if single else flat.paths[i][1:]
        slot = flat.slots[i]
        value = slot if isinstance(slot, Variable) else flat.leaves[i]
        found = spec.sharding_of(path, value)
        if found is NO_SHARDING:
            unmatched.append(f"{format_path(path, name)}: {describe(value)}")
        specs.append(_normalize(found if found is not NO_SHARDING else None))
    return specs


def unmatched_error(unmatched: list[str]) -> ValueError:
    return ValueError(
        message(
            f"{OP}: the StateSharding filters do not match every value of the object.",
            unmatched,
            expected="StateSharding filters that together cover the object's state",
            fix="add a catch-all entry last: StateSharding({..., ...: P()})",
        )
    )


def spec_values(specs: Sequence[Any]) -> tuple[PartitionSpec, ...]:
    """Every PartitionSpec the specs can give a leaf, once each, in a fixed order."""
    found: list[PartitionSpec] = []
    for leaf in jax.tree_util.tree_leaves(list(specs), is_leaf=is_spec):
        if isinstance(leaf, State):
            leaf = StateSharding(leaf)
        for s in leaf.shardings if isinstance(leaf, StateSharding) else (leaf,):
            s = _normalize(s)
            if s not in found:
                found.append(s)
    if REPLICATED not in found:
        found.append(REPLICATED)
    return tuple(found)


class Grouping:
    """Which spec group each value the traced function returned went to (static)."""

    __slots__ = ("groups",)

    def __init__(self, groups: tuple[int, ...]) -> None:
        self.groups = groups

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grouping) and self.groups == other.groups

    def __hash__(self) -> int:
        return hash(self.groups)

    def group(self, leaves: Sequence[Any], n: int) -> tuple[list[Any], ...]:
        out: tuple[list[Any], ...] = tuple([] for _ in range(n))
        for leaf, g in zip(leaves, self.groups, strict=True):
            out[g].append(leaf)
        return out

    def ungroup(self, groups: Sequence[Sequence[Any]]) -> list[Any]:
        its = [iter(group) for group in groups]
        return [next(its[g]) for g in self.groups]


jax.tree_util.register_pytree_node(Grouping, lambda g: ((), g.groups), lambda gs, _: Grouping(gs))


def argument_specs(
    lifted: Lifted, args: tuple[Any, ...], in_specs: Any, op: str = OP
) -> tuple[list[PartitionSpec], list[PartitionSpec]]:
    """The spec of every graph leaf and every other argument leaf of a lifted call."""
    if isinstance(in_specs, list):
        in_specs = tuple(in_specs)
    is_tuple = isinstance(in_specs, tuple) and not isinstance(in_specs, PartitionSpec)
    if is_tuple and len(in_specs) != len(args):
        raise ValueError(
            message(
                f"{op}: in_specs has {len(in_specs)} entries but the function was called "
                f"with {len(args)} positional argument(s).",
                [f"in_specs={in_specs!r}"],
                expected="one in_specs entry per positional argument",
                fix=f"in_specs={tuple([REPLICATED] * len(args))!r}",
            )
        )
    per_leaf = spec_prefix(in_specs, args, "in_specs", op)
    positions = lifted.spec.object_positions
    objects = set(positions)
    others = [s for i, s in enumerate(per_leaf) if i not in objects]
    if any(isinstance(s, StateSharding | State) for s in others):
        raise ValueError(
            message(
                f"{op}: a StateSharding (or State of specs) was given for an argument that "
                "is not an Object.",
                expected="StateSharding only for Objects; a PartitionSpec for arrays",
                fix="in_specs=(..., P('data'), ...)  # a PartitionSpec for that argument",
            )
        )
    unmatched: list[str] = []
    graph: list[PartitionSpec] = []
    for root in range(len(positions)):
        spec = per_leaf[positions[root]]
        graph.extend(leaf_specs(lifted.flat, root, spec, f"args[{root}]", unmatched))
    if unmatched:
        raise unmatched_error(unmatched)
    return graph, [_normalize(s) for s in others]


def _result_specs(
    walked: Walked, n_inputs: int, out_specs: Any, out: Any
) -> tuple[list[PartitionSpec], list[PartitionSpec]]:
    """The spec of each returned object's leaf and of each other result leaf."""
    per_leaf = spec_prefix(out_specs, out, "out_specs")
    unmatched: list[str] = []
    new: list[PartitionSpec] = []
    for k, position in enumerate(walked.object_positions):
        name = f"result leaf {position}"
        new.extend(leaf_specs(walked.flat, n_inputs + k, per_leaf[position], name, unmatched))
    if unmatched:
        raise unmatched_error(unmatched)
    objects = set(walked.object_positions)
    rest = [s for i, s in enumerate(per_leaf) if i not in objects]
    if any(isinstance(s, StateSharding | State) for s in rest):
        raise ValueError(
            message(
                f"{OP}: a StateSharding was given in out_specs for a result that is not an Object.",
                fix="out_specs=P(...)  # a PartitionSpec for array results",
            )
        )
    return new, [_normalize(s) for s in rest]


def _require_same_structure(spec: OutputSpec) -> None:
    if not spec.inputs_unchanged:
        raise ValueError(
            message(
                f"{OP}: the function changed the structure of an input object (an attribute "
                "or Variable added, removed or replaced).",
                expected="only Variable values to change inside a sharded function",
                fix="make structural changes outside, or return new objects instead",
            )
        )


def sharded_call(
    f: Callable[..., Any],
    lifted: Lifted,
    graph_specs: list[PartitionSpec],
    out_specs: Any,
    values: tuple[PartitionSpec, ...],
) -> Callable[[list[Any], list[Any]], Any]:
    """The pure function shard_map transforms: leaves in, results grouped by spec out."""
    spec = lifted.spec

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
        box: list[Any] = []

        def check(entered: Entered, walked: Walked, out: Any) -> None:
            box.append(_result_specs(walked, len(entered.roots), out_specs, out))

        out_spec, in_leaves, new_leaves, dynamic = call_pure(
            f, spec, graph_leaves, other_leaves, changed_only=False, check=check, op=OP
        )
        _require_same_structure(out_spec)
        new_specs, rest_specs = box[0]
        skip = {p for p, _ in out_spec.out_statics}
        rest_specs = [s for i, s in enumerate(rest_specs) if i not in skip]
        index = {s: i for i, s in enumerate(values)}
        try:
            grouping = Grouping(tuple(index[s] for s in [*graph_specs, *new_specs, *rest_specs]))
        except KeyError as error:
            raise ValueError(f"{OP}: out_specs named a spec outside {values}") from error
        leaves = [*in_leaves, *new_leaves, *dynamic]
        return out_spec, grouping, grouping.group(leaves, len(values))

    return pure


def shard_map(
    f: Callable[..., Any] | None = None,
    *,
    mesh: Any,
    in_specs: Any,
    out_specs: Any,
    axis_names: AbstractSet[Hashable] = frozenset(),
    check_vma: bool = True,
    check_rep: bool | None = None,
    auto: AbstractSet[Hashable] = frozenset(),
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.shard_map`` whose arguments may be Objects; their updates come back sharded.

    ``check_rep`` and ``auto`` are Flax 0.10's names (``check_vma``, and the mesh axes
    left out of ``axis_names``).

    >>> import jax, jax.numpy as jnp
    >>> from jax.sharding import PartitionSpec as P
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ('data',))
    >>> f = shard_map(lambda m, x: m.w.value * x, mesh=mesh,
    ...               in_specs=(P(), P('data')), out_specs=P('data'))
    >>> f(Scale(), jnp.ones(4)).shape
    (4,)
    """
    options: dict[str, Any] = dict(
        mesh=mesh,
        in_specs=in_specs,
        out_specs=out_specs,
        axis_names=axis_names,
        check_vma=check_vma,
        check_rep=check_rep,
        auto=auto,
        graph=graph,
        graph_updates=graph_updates,
    )
    if f is None:
        return functools.partial(shard_map, **options)
    modes = Modes(graph, graph_updates, OP)
    fun = modes.function(f)
    if check_rep is not None:
        check_vma = check_rep
    names = set(axis_names)
    if auto:
        names = set(mesh.axis_names) - set(auto)
    cache: dict[Any, Callable[..., Any]] = {}

    @functools.wraps(f)
    def wrapper(*args: Any) -> Any:
        lifted = lift(args, {}, fun=f, op=OP)
        graph_specs, other_specs = argument_specs(lifted, args, in_specs)
        key = (lifted.spec, tuple(graph_specs), tuple(other_specs))
        mapped = cache.get(key)
        if mapped is None:
            values = spec_values([in_specs, out_specs])
            pure = sharded_call(fun, lifted, graph_specs, out_specs, values)
            mapped = jax.shard_map(
                lambda g, o: pure(list(g), list(o)),
                mesh=mesh,
                in_specs=(tuple(graph_specs), tuple(other_specs)),
                out_specs=(REPLICATED, REPLICATED, values),
                axis_names=names,
                check_vma=check_vma,
            )
            cache[key] = mapped
        out_spec, grouping, groups = mapped(
            tuple(lifted.flat.read_leaves()), tuple(lifted.other_leaves)
        )
        results = grouping.ungroup(groups)
        n_in = out_spec.n_input_leaves
        n_new = n_in + sum(out_spec.out_root_sizes)
        return apply(lifted.flat, out_spec, results[:n_in], results[n_in:n_new], results[n_new:])

    return modes.checked(wrapper)
