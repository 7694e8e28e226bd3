"""Attribute paths, and how they are written for a person to read.

A path is a tuple of keys from a root to a node: attribute names and dict keys are
strings, list and tuple positions are ints. People read paths the way they would type
them, so ``('layers', 0, 'kernel')`` from a root called ``model`` prints as
``model.layers[0].kernel``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeAlias

PathKey: TypeAlias = Hashable
Path: TypeAlias = tuple[PathKey, ...]


def format_path(path: Path, root: str = "model") -> str:
    """Write ``path`` as Python that reaches the node from ``root``.

    >>> format_path(('layers', 0, 'kernel'))
    'model.layers[0].kernel'
    >>> format_path(('params', 'not an identifier'), root='state')
    "state.params['not an identifier']"
    """
    parts = [root]
    for key in path:
        if isinstance(key, str) and key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def root_name(node: Any) -> str:
    """What to call a graph in an error when the caller's variable name is unknown.

    ``nnx.split(block, ...)`` cannot see the name ``block``: a graph is a ``model``,
    unless its class names itself (``_nnx_root_name``: an Optimizer is an ``optimizer``,
    so its paths read ``optimizer.model.kernel``, not ``model.model.kernel``).

    >>> root_name(object())
    'model'
    """
    name = getattr(type(node), "_nnx_root_name", "model")
    return name if isinstance(name, str) else "model"
