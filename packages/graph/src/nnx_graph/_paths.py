"""Attribute paths, and how they are written for a person to read.

A path is a tuple of keys from a root to a node: attribute names and dict keys are
strings, list and tuple positions are ints. People read paths the way they would type
them, so ``('layers', 0, 'kernel')`` from a root called ``model`` prints as
``model.layers[0].kernel``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeAlias

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
