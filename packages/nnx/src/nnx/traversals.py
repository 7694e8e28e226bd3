"""``nnx.traversals``: nested mappings to flat ``{path: leaf}`` dicts and back (flax's names).

Checkpoint code and optax labels often want a State's pure dict flat, keyed by a path
tuple or a ``'a/b'`` string; these are the two conversions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["empty_node", "flatten_mapping", "unflatten_mapping"]


class _EmptyNode:
    def __repr__(self) -> str:
        return "empty_node"


empty_node: Any = (
    _EmptyNode()
)  # an empty sub-mapping, kept by flatten_mapping(keep_empty_nodes=True)


def flatten_mapping(
    xs: Mapping[Any, Any],
    /,
    *,
    keep_empty_nodes: bool = False,
    is_leaf: Callable[[tuple[Any, ...], Any], bool] | None = None,
    sep: str | None = None,
) -> dict[Any, Any]:
    """``{'a': {'b': 1}}`` as ``{('a', 'b'): 1}`` (or ``{'a/b': 1}`` with ``sep='/'``).

    >>> flatten_mapping({'a': {'b': 1}, 'c': 2}), flatten_mapping({'a': {'b': 1}}, sep='/')
    ({('a', 'b'): 1, ('c',): 2}, {'a/b': 1})
    """
    flat: dict[Any, Any] = {}

    def visit(node: Mapping[Any, Any], prefix: tuple[Any, ...]) -> None:
        for key, value in node.items():
            path = (*prefix, key)
            if isinstance(value, Mapping) and not (is_leaf and is_leaf(path, value)):
                if value:
                    visit(value, path)
                    continue
                if not keep_empty_nodes:
                    continue
                value = empty_node
            flat[sep.join(map(str, path)) if sep is not None else path] = value

    visit(xs, ())
    return flat


def unflatten_mapping(xs: Mapping[Any, Any], /, *, sep: str | None = None) -> dict[Any, Any]:
    """The nested dict of a flat ``{path: leaf}`` (``sep`` splits string keys).

    >>> unflatten_mapping({('a', 'b'): 1}), unflatten_mapping({'a/b': 1}, sep='/')
    ({'a': {'b': 1}}, {'a': {'b': 1}})
    """
    nested: dict[Any, Any] = {}
    for key, value in xs.items():
        path = tuple(key.split(sep)) if sep is not None else tuple(key)
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = {} if value is empty_node else value
    return nested
