"""nnx.capture: run a model and hand back what it sowed, leaving the model clean (flax 0.12).

``capture(model, nnx.Intermediate)(x)`` returns ``(out, intermediates)``: the Variables of
the given kinds that the call created (``Module.sow``, ``Module.perturb``) are popped
from the model into a State per kind, so the next call starts without them. ``init``
seeds Perturbations before the call (their values are what ``perturb`` adds), and
``method_outputs=kind`` sows every module's ``__call__`` output under ``__call__``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nnx_graph._errors import describe, message
from nnx_graph._functional import pop
from nnx_graph._object import CALL_OBSERVERS, Module
from nnx_graph._state import State
from nnx_graph._variable import Variable


def capture(
    fn: Any,
    *var_types: type[Variable[Any]],
    init: State | None = None,
    method_outputs: type[Variable[Any]] | None = None,
) -> Callable[..., Any]:
    """Wrap ``fn`` to return ``(out, *states)``: one State per kind of what the call sowed.

    ``fn`` is a Module, a bound method of one, or a function taking a module first.

    >>> import jax.numpy as jnp
    >>> class Block(Module):
    ...     def __call__(self, x):
    ...         self.sow(Variable, 'h', x * 2)
    ...         return x + 1
    >>> block = Block()
    >>> out, sown = capture(block, Variable)(jnp.ones(1))
    >>> float(out[0]), float(sown['h'].value[0][0]), hasattr(block, 'h')
    (2.0, 2.0, False)
    """
    if isinstance(fn, type) and issubclass(fn, Variable):
        kinds = (fn, *var_types)
        return lambda f: capture(f, *kinds, init=init, method_outputs=method_outputs)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        module = _module_of(fn, args)
        if init is not None:
            _place(module, init)
        observer = _sow_outputs(method_outputs) if method_outputs is not None else None
        if observer is not None:
            CALL_OBSERVERS.append(observer)
        try:
            out = fn(*args, **kwargs)
        finally:
            if observer is not None:
                CALL_OBSERVERS.remove(observer)
        # By exact kind, as flax: Intermediate does not also take Perturbations.
        states = [pop(module, _exactly(kind)) for kind in var_types]
        return (out, *states)

    return wrapper


def _exactly(kind: type[Variable[Any]]) -> Callable[[Any, Any], bool]:
    return lambda path, value: type(value) is kind


def _module_of(fn: Any, args: tuple[Any, ...]) -> Module:
    if isinstance(fn, Module):
        return fn
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, Module):
        return owner
    if args and isinstance(args[0], Module):
        return args[0]
    raise TypeError(
        message(
            f"nnx.capture cannot tell which module to capture from: {describe(fn)} was "
            f"called with {describe(args[0]) if args else 'no positional argument'} first.",
            expected="a Module, a bound method of one, or a function whose first argument "
            "is a Module",
            fix="nnx.capture(model, nnx.Intermediate)(x), or pass the module first",
        )
    )


def _place(module: Module, init: State) -> None:
    """Put ``init``'s Variables into ``module`` at their paths (perturbation seeds)."""
    for path, leaf in init.flat_dict().items():
        holder: Any = module
        for key in path[:-1]:
            holder = getattr(holder, key) if isinstance(key, str) else holder[key]
        setattr(holder, str(path[-1]), leaf.replace() if isinstance(leaf, Variable) else leaf)


def _sow_outputs(kind: type[Variable[Any]]) -> Callable[..., Callable[[Any], None]]:
    def observe(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return lambda out: module.sow(kind, "__call__", out)

    return observe
