"""nnx.jvp: ``jax.jvp`` whose primals may be Objects.

As in Flax NNX 0.12, a tangent for an object is an object of the same structure whose
Variables hold the tangents (``jax.tree.map(jnp.ones_like, model)`` makes one). Every
Variable of an object primal is a primal input; the objects' updates are written back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from nnx_graph import message
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import apply, call_pure, lift
from nnx_transforms._vjp import split_output


def jvp(
    f: Callable[..., Any] | None = None,
    primals: tuple[Any, ...] | None = None,
    tangents: tuple[Any, ...] | None = None,
    *,
    has_aux: bool = False,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.jvp`` whose primals may be Objects: ``out, out_dot = nnx.jvp(f, primals, tangents)``.

    With ``has_aux`` it returns ``(out, out_dot, aux)``; without primals (``nnx.jvp(f)``),
    the function to call with ``(primals, tangents)``.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> m = Scale()
    >>> m_dot = jax.tree.map(jnp.ones_like, m)
    >>> out, out_dot = jvp(lambda m, x: m.w * x, (m, 3.0), (m_dot, 1.0))
    >>> float(out), float(out_dot)
    (6.0, 5.0)
    """
    options: dict[str, Any] = {"has_aux": has_aux, "graph": graph, "graph_updates": graph_updates}
    if f is None:
        return functools.partial(jvp, **options)
    if primals is None or tangents is None:
        return lambda p, t: jvp(f, p, t, **options)
    modes = Modes(graph, graph_updates, "nnx.jvp")
    modes.check(tuple(primals), {})
    fun = modes.function(f)
    lifted = lift(tuple(primals), {})
    tangent = lift(tuple(tangents), {})
    if tangent.spec.treedef != lifted.spec.treedef or len(tangent.flat.slots) != len(
        lifted.flat.slots
    ):
        raise ValueError(
            message(
                "nnx.jvp: the tangents do not have the structure of the primals.",
                [f"primals: {lifted.spec.treedef}", f"tangents: {tangent.spec.treedef}"],
                expected="one tangent per primal; for an object, an object of the same "
                "structure whose Variables hold the tangents",
                fix="tangents = jax.tree.map(jnp.ones_like, primals)",
            )
        )

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
        box: list[Any] = []
        inner = split_output(fun, has_aux, "nnx.jvp", box)
        result = call_pure(inner, lifted.spec, graph_leaves, other_leaves, changed_only=False)
        return box[0], result

    out, out_dot, result = jax.jvp(
        pure,
        (lifted.flat.read_leaves(), lifted.other_leaves),
        (tangent.flat.read_leaves(), tangent.other_leaves),
        has_aux=True,
    )
    aux = apply(lifted.flat, *result)
    return (out, out_dot, aux) if has_aux else (out, out_dot)
