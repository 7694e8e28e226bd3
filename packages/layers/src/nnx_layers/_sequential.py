"""Sequential: call layers one after another, feeding each output to the next.

The layers live in the list ``layers``, so they appear in paths as ``layers[0]``,
``layers[1]``, ... and can be replaced or appended to like any list attribute. Plain
functions (``nnx.relu``) may sit between modules; they are static and cost nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nnx_graph import Module, describe, message
from nnx_variables import Rngs


class Sequential(Module):
    """Compose callables: ``Sequential(f, g)(x) == g(f(x))``.

    A tuple output is passed on as positional arguments and a dict output as keyword
    arguments, so layers returning several values can still be chained (as in flax 0.10
    and 0.12). The arguments of the call go to the first layer, except ``rngs``, which
    goes to every layer whose call takes ``rngs`` (a ``Dropout``) and to no other.

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

    def __call__(self, *args: Any, rngs: Rngs | None = None, **kwargs: Any) -> Any:
        """Apply every layer in order; ``rngs`` goes to each layer that takes ``rngs``.

        With no layers, the input comes back as flax 0.12 gives it: the one argument,
        a tuple of several, the keyword arguments as a dict, or ``None`` for nothing
        (0.10 returned ``None`` whatever it was given).
        """
        if not self.layers:
            if args:
                return args[0] if len(args) == 1 else args
            return kwargs or None
        output: Any = None
        for i, layer in enumerate(self.layers):
            if i > 0:
                args, kwargs = _as_arguments(output)
            if rngs is not None and _takes_rngs(layer):
                kwargs = {**kwargs, "rngs": rngs}
            output = layer(*args, **kwargs)
        return output


def _as_arguments(output: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(output, tuple):
        return output, {}
    if isinstance(output, dict):
        return (), output
    return (output,), {}


def _takes_rngs(layer: Callable[..., Any]) -> bool:
    """Whether ``layer`` has an ``rngs`` parameter that can be given by keyword.

    flax 0.12 asks the same question but lets ``inspect.signature`` raise for callables
    it cannot read (builtins such as ``max``); those take no ``rngs`` here.
    """
    try:
        parameters = inspect.signature(layer).parameters
    except (TypeError, ValueError):
        return False
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return "rngs" in parameters and parameters["rngs"].kind in keyword
