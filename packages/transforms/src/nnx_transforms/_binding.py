"""Bind a call's keyword arguments to their positions, so that ``in_axes`` reaches them.

``in_axes`` of vmap-like transforms is a prefix of the *positional* arguments: JAX maps
every keyword argument on axis 0. Flax NNX binds keywords that name positional
parameters to their positions first, so ``vmap(f, in_axes=(0, None))(x, y=2)`` gives
``y`` the ``None``; code ported from it relies on that. Keyword-only parameters and
``**kwargs`` have no position and keep JAX's axis 0 (Flax refuses them; a meaning beats
an error). Defaults fill the positions an ``in_axes`` tuple names but the call left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nnx_graph import message
from nnx_transforms._naming import function_name

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def bind_arguments(
    f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], in_axes: Any, op: str
) -> tuple[tuple[Any, ...], dict[str, Any], dict[int, str]]:
    """Move keywords that name positional parameters to their positions.

    Returns ``(args, kwargs, names)``, ``names`` saying which positions came from which
    keyword, so that error messages can name them as the user wrote them.

    >>> def f(x, y, *, z=0): ...
    >>> bind_arguments(f, (1,), {'y': 2, 'z': 3}, (0, None), 'nnx.vmap')
    ((1, 2), {'z': 3}, {1: 'y'})
    """
    wanted = len(in_axes) if isinstance(in_axes, tuple | list) else 0
    if not kwargs and len(args) >= wanted:
        return args, kwargs, {}
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to bind by
        return args, kwargs, {}
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        name = function_name(f)
        raise TypeError(
            message(
                f"{op}: the call does not fit the signature of {name}: {error}.",
                [
                    f"{name}{signature}",
                    f"called with {len(args)} positional argument(s) and "
                    f"keyword(s) {sorted(kwargs)}",
                ],
                expected="the arguments the function takes",
                fix=f"pass every parameter of {name} that has no default",
            )
        ) from error
    positional = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
    given = [i for i, p in enumerate(positional) if p.name in bound.arguments]
    # Up to the last positional parameter given, and as far as in_axes reaches.
    count = max([len(args), wanted if wanted <= len(positional) else 0, *(i + 1 for i in given)])
    new_args = list(args)
    names: dict[int, str] = {}
    rest = dict(kwargs)
    for i in range(len(args), min(count, len(positional))):
        parameter = positional[i]
        if parameter.name in rest:
            new_args.append(rest.pop(parameter.name))
            names[i] = parameter.name
        elif parameter.default is not inspect.Parameter.empty:
            new_args.append(parameter.default)
        else:  # not reached: bind() checked that every parameter without a default is given
            break
    return tuple(new_args), rest, names
