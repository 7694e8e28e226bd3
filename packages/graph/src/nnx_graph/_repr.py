"""Plain-text reprs for Objects and GraphDefs.

A repr shows the tree of attributes with Variables summarised by kind, shape and dtype.
A node reached a second time (shared, or a cycle) prints as a reference to the path
where it was first shown, so reprs of shared or cyclic graphs stay finite.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nnx_graph._errors import describe
from nnx_graph._paths import Path, format_path

_INDENT = "  "


def _value_summary(value: Any) -> str:
    if isinstance(value, jax.Array | np.ndarray) and value.size > 4:
        return describe(value).replace("ArrayImpl", "Array")
    return repr(value)


def object_repr(obj: Any) -> str:
    """The text tree of ``obj`` (an Object)."""
    return _render(obj, (), {}, 0)


def _render(value: Any, path: Path, seen: dict[int, Path], depth: int) -> str:
    from nnx_graph._object import Object
    from nnx_graph._variable import Variable

    if isinstance(value, Object | Variable | list | dict):
        if id(value) in seen:
            return f"<shared: {format_path(seen[id(value)])}>"
        seen[id(value)] = path
    if isinstance(value, Variable):
        body = [f"value={_value_summary(value.raw_value)}"]
        body += [f"{k}={v!r}" for k, v in value.get_metadata().items()]
        return f"{type(value).__name__}({', '.join(body)})"
    if isinstance(value, Object):
        items = [(k, v) for k, v in sorted(vars(value).items(), key=lambda kv: str(kv[0]))]
        return _block(
            f"{type(value).__name__}(",
            ")",
            [f"{k}={_render(v, (*path, k), seen, depth + 1)}" for k, v in items],
            depth,
        )
    if isinstance(value, list | tuple) and any(_is_graph(v) for v in value):
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        return _block(
            open_,
            close,
            [_render(v, (*path, i), seen, depth + 1) for i, v in enumerate(value)],
            depth,
        )
    if isinstance(value, dict) and any(_is_graph(v) for v in value.values()):
        return _block(
            "{",
            "}",
            [f"{k!r}: {_render(v, (*path, k), seen, depth + 1)}" for k, v in value.items()],
            depth,
        )
    return _value_summary(value)


def _is_graph(value: Any) -> bool:
    from nnx_graph._object import Object
    from nnx_graph._variable import Variable

    return isinstance(value, Object | Variable | jax.Array | np.ndarray | list | dict | tuple)


def _block(open_: str, close: str, lines: list[str], depth: int) -> str:
    if not lines:
        return open_ + close
    pad = _INDENT * (depth + 1)
    inner = ",\n".join(pad + line for line in lines)
    return f"{open_}\n{inner},\n{_INDENT * depth}{close}"


def graphdef_repr(graphdef: Any) -> str:
    """The text form of a GraphDef: node kinds and static attributes, no values."""
    lines = [_edge_repr(edge, 1) for edge in graphdef.edges]
    return "GraphDef(\n" + ",\n".join(_INDENT + line for line in lines) + "\n)"


def _edge_repr(edge: tuple[Any, ...], depth: int) -> str:
    tag = edge[0]
    pad = _INDENT * (depth + 1)
    if tag == "static":
        return repr(edge[1])
    if tag == "array":
        return "<array>"
    if tag == "ref":
        return f"<ref {edge[1]}>"
    if tag == "var":
        return f"{edge[2].__name__}#{edge[1]}"
    if tag == "object" or tag == "dict" or tag == "pytree":
        name = {
            "object": lambda: f"{edge[2].__name__}#{edge[1]}",
            "dict": lambda: f"dict#{edge[1]}",
            "pytree": lambda: f"pytree[{edge[1]}]",
        }[tag]()
        items = edge[-1] if tag != "pytree" else edge[2]
        if not items:
            return f"{name}()"
        body = ",\n".join(f"{pad}{k}={_edge_repr(e, depth + 1)}" for k, e in items)
        return f"{name}(\n{body}\n{_INDENT * depth})"
    items = edge[-1]
    name = f"list#{edge[1]}" if tag == "list" else "tuple"
    body = ",\n".join(f"{pad}{_edge_repr(e, depth + 1)}" for e in items)
    return f"{name}[\n{body}\n{_INDENT * depth}]" if items else f"{name}[]"
