"""Say where a function reached the object it must not mutate.

Writing to an object captured by closure inside a transform raises TraceContextError
from deep inside the Variable or Object; only the transform knows the function that was
running. Searching that function's closure and globals for the object gives the path the
user wrote (``model.bn.mean``) and the variable to pass in instead (``model``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nnx_graph import Object, TraceContextError, Variable, format_path, iter_graph, message


def locate(fun: Callable[..., Any], target: object) -> tuple[str, str] | None:
    """``(path, name)``: where ``fun``'s free variables reach ``target``, if they do."""
    try:
        captured = inspect.getclosurevars(inspect.unwrap(fun))
    except (TypeError, ValueError):
        return None
    for name, value in {**captured.nonlocals, **captured.globals}.items():
        if value is target:
            return name, name
        if isinstance(value, Object | Variable | list | dict | tuple):
            for path, node in iter_graph(value):
                if node is target:
                    return format_path(path, name), name
    return None


def explain(error: TraceContextError, fun: Callable[..., Any]) -> TraceContextError | None:
    """A clearer error naming the captured path, or None when it cannot be found."""
    found = locate(fun, error.target)
    if found is None:
        return None
    path, name = found
    function = getattr(inspect.unwrap(fun), "__name__", "the function")
    return TraceContextError(
        message(
            f"{function} writes to {path}, which it captured from the enclosing scope "
            "instead of receiving it as an argument of the transform.",
            [str(error).splitlines()[0]],
            expected="objects mutated inside nnx.jit, nnx.grad, ... to be arguments",
            fix=f"add `{name}` to {function}'s parameters and pass it in the call",
        ),
        error.target,
    )
