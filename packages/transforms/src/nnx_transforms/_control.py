"""Control flow over Objects: cond, switch, fori_loop, while_loop.

Branches and loop bodies receive the objects and may update their Variables; as with
the JAX primitives, every branch (and every iteration) must leave the same structure,
so only Variable values may change inside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_graph import message
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import Lifted, OutputSpec, apply, call_pure, lift


def cond(
    pred: Any,
    true_fun: Callable[..., Any],
    false_fun: Callable[..., Any],
    *operands: Any,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.lax.cond`` whose operands may be Objects.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.x = Variable(jnp.array(1.0))
    >>> box = Box()
    >>> def double(b): b.x.value = b.x.value * 2
    >>> cond(True, double, lambda b: None, box)
    >>> float(box.x.value)
    2.0
    """
    index = jax.numpy.asarray(pred, dtype=jax.numpy.int32)
    return _switch(index, [false_fun, true_fun], operands, Modes(graph, graph_updates, "nnx.cond"))


def switch(
    index: Any,
    branches: Sequence[Callable[..., Any]],
    *operands: Any,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.lax.switch`` whose operands may be Objects."""
    return _switch(index, branches, operands, Modes(graph, graph_updates, "nnx.switch"))


def _switch(
    index: Any, branches: Sequence[Callable[..., Any]], operands: tuple[Any, ...], modes: Modes
) -> Any:
    modes.check(operands, {})
    branches = [modes.function(b) for b in branches]
    lifted = lift(operands, {})

    def branch(fun: Callable[..., Any]) -> Callable[..., Any]:
        def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
            return call_pure(fun, lifted.spec, graph_leaves, other_leaves, changed_only=False)

        return pure

    spec, in_leaves, new_leaves, dynamic = jax.lax.switch(
        index, [branch(b) for b in branches], lifted.flat.read_leaves(), lifted.other_leaves
    )
    return apply(lifted.flat, spec, in_leaves, new_leaves, dynamic)


def _loop_body(lifted: Lifted, fun: Callable[..., Any], op: str) -> Callable[..., Any]:
    """A pure body ``(graph, other) -> (graph, other)`` for a loop over ``init_val``."""

    def body(graph_leaves: list[Any], other_leaves: list[Any]) -> tuple[list[Any], list[Any]]:
        spec, in_leaves, new_leaves, dynamic = call_pure(
            fun, lifted.spec, graph_leaves, other_leaves, changed_only=False
        )
        _check_same_carry(lifted, spec, new_leaves, dynamic, op)
        return list(in_leaves), list(dynamic)

    return body


def _check_same_carry(
    lifted: Lifted, spec: OutputSpec, new_leaves: list[Any], dynamic: list[Any], op: str
) -> None:
    inner_positions = jax.tree_util.tree_structure(lifted.spec.treedef.children()[0])
    same = (
        spec.inputs_unchanged
        and not new_leaves
        and len(dynamic) == len(lifted.other_leaves)
        and spec.out_object_positions == lifted.spec.object_positions
        and not spec.out_statics
    )
    if not same:
        raise ValueError(
            message(
                f"{op}: the loop body must return a value with the structure of init_val "
                "(the same objects, the same number of arrays).",
                [f"init_val structure: {inner_positions}", f"returned: {spec.out_treedef}"],
                expected="body_fun to return its loop value, updated in place or with new arrays",
                fix="return val at the end of body_fun",
            )
        )


def _finish(lifted: Lifted, graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
    lifted.flat.write_leaves(graph_leaves)
    leaves: list[Any] = [None] * lifted.spec.n_leaves
    positions = set(lifted.spec.object_positions)
    objects = iter(_roots_of(lifted))
    others = iter(other_leaves)
    for i in range(lifted.spec.n_leaves):
        leaves[i] = next(objects) if i in positions else next(others)
    (init_val,), _ = jax.tree_util.tree_unflatten(lifted.spec.treedef, leaves)
    return init_val


def _roots_of(lifted: Lifted) -> list[Any]:
    """The caller's objects in argument order (a root edge's second field is its index)."""
    return [lifted.flat.nodes[edge[1]] for edge in lifted.flat.graphdef.edges]


def fori_loop(
    lower: Any,
    upper: Any,
    body_fun: Callable[[Any, Any], Any],
    init_val: Any,
    *,
    unroll: int | bool | None = None,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.lax.fori_loop`` whose loop value may hold Objects.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.x = Variable(jnp.array(0))
    >>> def add(i, box):
    ...     box.x.value = box.x.value + i
    ...     return box
    >>> int(fori_loop(0, 4, add, Box()).x.value)
    6
    """
    # A loop keeps its structure anyway: graph_updates changes nothing, tree mode checks.
    Modes(graph, graph_updates, "nnx.fori_loop").check((init_val,), {})
    lifted = lift((init_val,), {})

    def body(i: Any, carry: Any) -> Any:
        return tuple(_loop_body(lifted, lambda val: body_fun(i, val), "nnx.fori_loop")(*carry))

    graph_leaves, other = jax.lax.fori_loop(
        lower, upper, body, (lifted.flat.read_leaves(), lifted.other_leaves), unroll=unroll
    )
    return _finish(lifted, graph_leaves, other)


def while_loop(
    cond_fun: Callable[[Any], Any],
    body_fun: Callable[[Any], Any],
    init_val: Any,
    *,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.lax.while_loop`` whose loop value may hold Objects."""
    Modes(graph, graph_updates, "nnx.while_loop").check((init_val,), {})
    lifted = lift((init_val,), {})
    body = _loop_body(lifted, body_fun, "nnx.while_loop")

    def pure_cond(carry: Any) -> Any:
        _, _, _, dynamic = call_pure(cond_fun, lifted.spec, carry[0], carry[1], changed_only=False)
        return dynamic[0]

    graph_leaves, other = jax.lax.while_loop(
        pure_cond,
        lambda carry: tuple(body(*carry)),
        (lifted.flat.read_leaves(), lifted.other_leaves),
    )
    return _finish(lifted, list(graph_leaves), list(other))
