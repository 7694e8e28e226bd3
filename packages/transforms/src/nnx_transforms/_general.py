"""split_inputs / merge_inputs: lift a plain JAX transform to Objects by hand.

``split_inputs(transform(merge_inputs(f)))`` works like an nnx transform: outside, each
object argument is replaced, where it sits, by an ``ObjectLeaves`` pytree holding its
state's leaves (objects are split jointly, so sharing survives); inside, the objects
are rebuilt and ``f`` runs on them. The inner function returns
``(args_out, out)``: the arguments with each object's new leaves in its place and every
other leaf None, and the result with returned objects as ``ObjectLeaves``. That is the
structure a transform's output spec must describe (``out_axes=(in_axes, 0)``).
Back outside, the updates are written into the caller's objects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax

from nnx_graph import message
from nnx_transforms._protocol import (
    GRAPH_TYPES,
    InputSpec,
    OutputSpec,
    apply,
    call_pure,
    lift,
    output_tree,
)

F = TypeVar("F", bound=Callable[..., Any])


class ObjectLeaves:
    """An object's state leaves standing in for it; the plan to rebuild it is static."""

    __slots__ = ("leaves", "plan")

    def __init__(self, leaves: Sequence[Any], plan: tuple[Any, ...]) -> None:
        self.leaves = list(leaves)
        self.plan = plan

    def __repr__(self) -> str:
        return f"ObjectLeaves({len(self.leaves)} leaves)"


jax.tree_util.register_pytree_node(
    ObjectLeaves, lambda p: (p.leaves, p.plan), lambda plan, leaves: ObjectLeaves(leaves, plan)
)


def _is_part(x: Any) -> bool:
    return isinstance(x, (ObjectLeaves, *GRAPH_TYPES))


def _parts(tree: Any) -> tuple[list[Any], Any]:
    return jax.tree_util.tree_flatten(tree, is_leaf=_is_part)


def split_inputs(f: F | None = None, *, ctxtag: str = "split_merge_inputs") -> Any:
    """Outer half: replace object arguments by leaves, call ``f``, write updates back.

    ``ctxtag`` is accepted for Flax compatibility; pairing needs no tag here.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> @split_inputs
    ... @jax.jit
    ... @merge_inputs
    ... def double(m, x):
    ...     m.w.value = m.w.value * 2
    ...     return m.w.value * x
    >>> m = Scale()
    >>> float(double(m, 1.0)), float(m.w.value)
    (4.0, 4.0)
    """
    if f is None:
        return functools.partial(split_inputs, ctxtag=ctxtag)
    inner = f

    @functools.wraps(inner)
    def wrapper(*args: Any) -> Any:
        lifted = lift(args, {}, fun=inner, op="nnx.split_inputs")
        flat = lifted.flat
        values = flat.read_leaves()
        ends = list(flat.root_ends)
        starts = [0, *ends[:-1]] if ends else []
        sizes = tuple(e - s for s, e in zip(starts, ends, strict=True))
        leaves, treedef = _parts(args)
        k = 0
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, GRAPH_TYPES):
                leaves[i] = ObjectLeaves(values[starts[k] : ends[k]], (lifted.spec, k, sizes))
                k += 1
        pure_args = jax.tree_util.tree_unflatten(treedef, leaves)
        result = inner(*pure_args)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                message(
                    "nnx.split_inputs: the function must return (args_out, out), as "
                    "merge_inputs does.",
                    fix="@split_inputs @jax.jit @merge_inputs def f(...): ...",
                )
            )
        args_out, out = result
        in_parts = [p for p in _parts(args_out)[0] if isinstance(p, ObjectLeaves)]
        out_leaves, _ = _parts(out)
        out_parts = [p for p in out_leaves if isinstance(p, ObjectLeaves)]
        dynamic = [p for p in out_leaves if not isinstance(p, ObjectLeaves)]
        found = [p.plan[-1] for p in in_parts + out_parts if isinstance(p.plan[-1], OutputSpec)]
        if not found:
            return out
        in_leaves = [leaf for p in sorted(in_parts, key=lambda p: p.plan[1]) for leaf in p.leaves]
        new_leaves = [leaf for p in out_parts for leaf in p.leaves]
        return apply(flat, found[0], in_leaves, new_leaves, dynamic)

    return wrapper


def merge_inputs(f: F | None = None, *, ctxtag: str = "split_merge_inputs") -> Any:
    """Inner half: rebuild the objects, call ``f``, return ``(args_out, out)`` as leaves.

    >>> import jax.numpy as jnp
    >>> merged = merge_inputs(lambda x: x + 1)
    >>> merged(jnp.array(1.0))
    ((None,), Array(2., dtype=float32, weak_type=True))
    """
    if f is None:
        return functools.partial(merge_inputs, ctxtag=ctxtag)
    fun = f

    @functools.wraps(fun)
    def wrapper(*pure_args: Any) -> Any:
        leaves, treedef = _parts(pure_args)
        parts = sorted((p.plan[1], i) for i, p in enumerate(leaves) if isinstance(p, ObjectLeaves))
        if parts:
            first = leaves[parts[0][1]].plan
            graphdef, sizes = first[0].graphdef, first[2]
        else:
            graphdef, sizes = lift((), {}).spec.graphdef, ()
        # The transform may pass only some arguments on (cond's operands): the inner
        # call's structure is its own, its objects those of the outer call.
        inner_leaves, inner_treedef = _parts((pure_args, {}))
        spec = InputSpec(graphdef, inner_treedef, tuple(i for _, i in parts))
        graph_leaves = [leaf for _, i in parts for leaf in leaves[i].leaves]
        others = [p for p in inner_leaves if not isinstance(p, ObjectLeaves)]
        out_spec, in_leaves, new_leaves, dynamic = call_pure(
            fun, spec, graph_leaves, others, changed_only=False, op="nnx.merge_inputs"
        )
        if not out_spec.inputs_unchanged:
            raise ValueError(
                message(
                    "nnx.merge_inputs: the function changed the structure of an input object.",
                    expected="only Variable values to change inside",
                    fix="make structural changes outside, or use nnx.jit / nnx.vmap",
                )
            )
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        args_out = [
            ObjectLeaves(
                in_leaves[starts[p.plan[1]] : starts[p.plan[1]] + sizes[p.plan[1]]],
                (*p.plan[:3], out_spec),
            )
            if isinstance(p, ObjectLeaves)
            else None
            for p in leaves
        ]
        tree = output_tree(out_spec, new_leaves, dynamic)
        return jax.tree_util.tree_unflatten(treedef, args_out), _wrap_objects(
            out_spec, tree, new_leaves
        )

    return wrapper


def _wrap_objects(spec: OutputSpec, tree: Any, new_leaves: list[Any]) -> Any:
    """The result with each returned object's leaves as one ObjectLeaves."""
    if not spec.out_object_positions:
        return tree
    leaves = spec.out_treedef.flatten_up_to(tree)
    start = 0
    for j, (position, size) in enumerate(
        zip(spec.out_object_positions, spec.out_root_sizes, strict=True)
    ):
        leaves[position] = ObjectLeaves(new_leaves[start : start + size], (None, j, (), spec))
        start += size
    return jax.tree_util.tree_unflatten(spec.out_treedef, leaves)
