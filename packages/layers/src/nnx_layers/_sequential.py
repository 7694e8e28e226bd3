"""Sequential: call layers one after another, feeding each output to the next.

The layers live in the list ``layers``, so they appear in paths as ``layers[0]``,
``layers[1]``, ... and can be replaced or appended to like any list attribute. Plain
functions (``nnx.relu``) may sit between modules; they are static and cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnx_graph import Module, describe, message


class Sequential(Module):
    """Compose callables: ``Sequential(f, g)(x) == g(f(x))``.

    A tuple output is passed on as positional arguments and a dict output as keyword
    arguments, so layers returning several values can still be chained. The arguments of
    the call go to the first layer; an empty Sequential returns its single input unchanged.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> from nnx_layers import Linear, relu
    >>> model = Sequential(Linear(2, 4, rngs=Rngs(0)), relu, Linear(4, 1, rngs=Rngs(1)))
    >>> model(jnp.ones((3, 2))).shape
    (3, 1)
    """

    def __init__(self, *layers: Callable[..., Any]) -> None:
        problems = [
            f"layers[{i}]: {describe(layer)} is not callable"
            for i, layer in enumerate(layers)
            if not callable(layer)
        ]
        if problems:
            raise TypeError(
                message(
                    "nnx.Sequential: every layer must be callable.",
                    problems,
                    expected="Modules or functions, each taking the previous output",
                    fix="nnx.Sequential(nnx.Linear(2, 4, rngs=rngs), nnx.relu)",
                )
            )
        self.layers = list(layers)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Apply every layer in order."""
        if not self.layers:
            if len(args) != 1 or kwargs:
                raise TypeError(
                    message(
                        "nnx.Sequential with no layers can only pass one input through, got "
                        f"{len(args)} positional and {len(kwargs)} keyword arguments.",
                        fix="add layers, e.g. nnx.Sequential(layer1, layer2)",
                    )
                )
            return args[0]
        output: Any = None
        for i, layer in enumerate(self.layers):
            if i > 0:
                args, kwargs = _as_arguments(output)
            output = layer(*args, **kwargs)
        return output


def _as_arguments(output: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(output, tuple):
        return output, {}
    if isinstance(output, dict):
        return (), output
    return (output,), {}
