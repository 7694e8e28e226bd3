"""nnx.make_jaxpr: ``jax.make_jaxpr`` for functions of Objects.

The jaxpr's inputs are the objects' leaves followed by the other arguments' leaves,
and its outputs are the function's result only: what the function writes into the
objects is traced but not returned, and the caller's objects are never modified.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import call_pure, lift, output_tree


def make_jaxpr(
    f: Callable[..., Any] | None = None,
    *,
    graph: bool | None = None,
    graph_updates: bool | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Any:
    """A function that returns the ClosedJaxpr of ``f`` for the arguments it is given.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> print(make_jaxpr(lambda m, x: m.w * x)(Scale(), 3.0))
    { lambda ; a:f32[] b:f32[]. let c:f32[] = mul a b in (c,) }
    """
    if f is None:
        return functools.partial(
            make_jaxpr, graph=graph, graph_updates=graph_updates, static_argnums=static_argnums
        )
    modes = Modes(graph, graph_updates, "nnx.make_jaxpr")
    fun = modes.function(f)
    positions = {static_argnums} if isinstance(static_argnums, int) else set(static_argnums)

    @functools.wraps(f)
    def traced(*args: Any, **kwargs: Any) -> Any:
        modes.check(args, kwargs)
        statics = tuple((i, a) for i, a in enumerate(args) if i in positions)
        dynamic = tuple(a for i, a in enumerate(args) if i not in positions)
        lifted = lift(dynamic, kwargs, statics=statics)

        def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
            spec, _, new_leaves, values = call_pure(
                fun, lifted.spec, graph_leaves, other_leaves, changed_only=False
            )
            return output_tree(spec, new_leaves, values)

        return jax.make_jaxpr(pure)(lifted.flat.read_leaves(), lifted.other_leaves)

    return traced
