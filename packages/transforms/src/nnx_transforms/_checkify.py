"""nnx.checkify: ``jax.experimental.checkify.checkify`` for functions of Objects.

The checked function returns ``(error, out)`` as JAX's does. A failed check is a value,
not an exception, so the call still returns and the updates the function made to its
objects reach the caller, as in Flax NNX; ``error.throw()`` raises it when wanted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jax.experimental import checkify as checkify_lib

from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import apply, call_pure, lift

OP = "nnx.checkify"


def checkify(
    f: Callable[..., Any],
    errors: frozenset[Any] = checkify_lib.user_checks,  # JaxException kinds (private type)
    *,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Callable[..., tuple[checkify_lib.Error, Any]]:
    """Functionalize the checks in ``f``, whose arguments may be Objects.

    ``err, out = nnx.checkify(f)(model, x)``, as with JAX's.

    >>> import jax.numpy as jnp
    >>> from jax.experimental import checkify as jc
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(2.0))
    >>> def f(m, x):
    ...     jc.check(x > 0, "x must be positive")
    ...     return m.w.value * x
    >>> err, out = checkify(f)(Model(), -1.0)
    >>> err.get()
    'x must be positive (`check` failed)'
    """
    modes = Modes(graph, graph_updates, OP)
    fun = modes.function(f)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[checkify_lib.Error, Any]:
        lifted = lift(args, kwargs, fun=f, op=OP)

        def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
            return call_pure(
                fun, lifted.spec, graph_leaves, other_leaves, changed_only=False, op=OP
            )

        checked = checkify_lib.checkify(pure, errors=errors)
        error, result = checked(lifted.flat.read_leaves(), lifted.other_leaves)
        return error, apply(lifted.flat, *result)

    return modes.checked(wrapper)
