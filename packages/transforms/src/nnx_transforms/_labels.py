"""The names a transformed function gives its positional parameters, for error messages.

A transform that names an argument in an error uses the function's own parameter name
(``block.layers[0].w``, ``optimizer.model.w``), as the user's code reads, rather than
``args[0]`` or a root called ``model``. Reading a signature costs microseconds, so the
answer is kept per function, weakly: a dropped function (and whatever its closure
holds) is not kept alive by the cache.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

_CACHE: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def parameter_names(fun: Callable[..., Any] | None) -> tuple[str, ...]:
    """The names of ``fun``'s positional parameters, in order (empty if unknown).

    >>> parameter_names(lambda block, x, *rest, scale=1: None)
    ('block', 'x')
    """
    if fun is None:
        return ()
    try:
        return _CACHE[fun]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable (a partial)
        pass
    try:
        parameters = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names = tuple(
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    with contextlib.suppress(TypeError):
        _CACHE[fun] = names
    return names


def positional_labels(fun: Callable[..., Any], n: int) -> list[str]:
    """How to name each of ``n`` positional arguments: the parameter's name, or ``args[i]``.

    Paths in errors then read as the user's code does (``block.w``, ``optimizer.model.w``)
    rather than from a root called ``model`` or ``args[0]``.

    >>> positional_labels(lambda block, x, *rest: None, 4)
    ['block', 'x', 'args[2]', 'args[3]']
    """
    return label_positions(parameter_names(fun), range(n))


def label_positions(names: Sequence[str], numbers: Sequence[int] | range) -> list[str]:
    """The label of each positional argument number: its parameter name, or ``args[i]``.

    >>> label_positions(('block', 'x'), [0, 2])
    ['block', 'args[2]']
    """
    return [names[i] if i < len(names) else f"args[{i}]" for i in numbers]
