"""nnx.remat: ``jax.checkpoint`` for functions of Objects (recompute, don't store)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import lifted_call


def remat(
    f: Callable[..., Any] | None = None,
    *,
    prevent_cse: bool = True,
    static_argnums: int | Sequence[int] = (),
    policy: Callable[..., bool] | None = None,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """Rematerialise ``f`` in the backward pass; its Objects work as with other transforms.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    ...     def __call__(self, x):
    ...         return jnp.sin(self.w * x)
    >>> float(remat(lambda m, x: m(x))(Model(), 0.0))
    0.0
    """
    if f is None:
        return functools.partial(
            remat,
            prevent_cse=prevent_cse,
            static_argnums=static_argnums,
            policy=policy,
            graph=graph,
            graph_updates=graph_updates,
        )
    modes = Modes(graph, graph_updates, "nnx.remat")
    user, f = f, modes.function(f)
    positions = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(user)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        statics = tuple((i, args[i]) for i in sorted(positions))
        dynamic = tuple(a for i, a in enumerate(args) if i not in positions)
        return lifted_call(
            lambda pure: jax.checkpoint(pure, prevent_cse=prevent_cse, policy=policy),
            f,
            dynamic,
            kwargs,
            statics,
        )

    return modes.checked(wrapper)
