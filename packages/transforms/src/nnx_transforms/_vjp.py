"""nnx.vjp: ``jax.vjp`` whose primals may be Objects.

Every Variable of an object primal is a primal input (as in Flax NNX 0.12, where a
module is a pytree of its Variables), so the cotangents come back shaped like the
primals: a copy of each object whose Variables hold cotangents. Updates the function
makes to the objects (BatchNorm statistics, RNG counts) are written back, as with
``nnx.grad``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax

from nnx_graph import message
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._grad import refuse_reduce_axes
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import InputSpec, apply, call_pure, lift


def split_output(f: Callable[..., Any], has_aux: bool, op: str, box: list[Any]) -> Any:
    """``f`` returning its aux only; the differentiated output goes into ``box``.

    The protocol then carries aux (objects included) and the objects' updates out as
    JAX's aux data, while the differentiated output stays plain arrays.
    """

    @functools.wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        out = f(*args, **kwargs)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    message(
                        f"{op}(..., has_aux=True): the function must return a pair "
                        f"(out, aux), got {type(out).__name__}.",
                        fix="return out, aux",
                    )
                )
            out, aux = out
        else:
            aux = None
        box.append(out)
        return aux

    return inner


def like_inputs(
    spec: InputSpec, graph_values: list[Any], other_values: list[Any]
) -> tuple[Any, ...]:
    """Values in the shape of the call's arguments: new objects where objects were."""
    roots, _ = unflatten_graph(spec.graphdef, graph_values)
    leaves: list[Any] = [None] * spec.n_leaves
    for position, root in zip(spec.object_positions, roots, strict=True):
        leaves[position] = root
    rest = iter(other_values)
    positions = set(spec.object_positions)
    for i in range(spec.n_leaves):
        if i not in positions:
            leaves[i] = next(rest)
    args, _ = jax.tree_util.tree_unflatten(spec.treedef, leaves)
    return tuple(args)


def vjp(
    f: Callable[..., Any] | None = None,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: Sequence[Hashable] = (),
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.vjp`` whose primals may be Objects: ``out, vjp_fn = nnx.vjp(f, model, x)``.

    ``vjp_fn(cotangent)`` returns one cotangent per primal, a copy of each object with
    its Variables holding theirs. Without primals (``nnx.vjp(f)``), the function to call
    with them. Flax 0.12 requires ``graph=False`` or ``graph_updates=False`` here; the
    default graph mode also works, sharing included.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> out, vjp_fn = vjp(lambda m, x: m.w * x, Scale(), 3.0)
    >>> m_bar, x_bar = vjp_fn(jnp.array(1.0))
    >>> float(out), float(m_bar.w.value), float(x_bar)
    (6.0, 3.0, 2.0)
    """
    refuse_reduce_axes(reduce_axes, "nnx.vjp")
    options: dict[str, Any] = {"has_aux": has_aux, "graph": graph, "graph_updates": graph_updates}
    if f is None:
        return functools.partial(vjp, **options)
    if not primals:
        return lambda *args: vjp(f, *args, **options)
    modes = Modes(graph, graph_updates, "nnx.vjp")
    modes.check(primals, {})
    fun = modes.function(f)
    lifted = lift(primals, {})

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
        box: list[Any] = []
        inner = split_output(fun, has_aux, "nnx.vjp", box)
        result = call_pure(inner, lifted.spec, graph_leaves, other_leaves, changed_only=False)
        return box[0], result

    out, pullback, result = jax.vjp(
        pure, lifted.flat.read_leaves(), lifted.other_leaves, has_aux=True
    )
    aux = apply(lifted.flat, *result)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        graph_bar, other_bar = pullback(cotangent)
        return like_inputs(lifted.spec, list(graph_bar), list(other_bar))

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)
