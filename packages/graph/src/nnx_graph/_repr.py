"""Plain-text reprs: the tree of an Object, a State or a GraphDef, readable in a terminal.

A repr shows the tree of attributes, with each Variable summarised by kind, shape and
dtype, and on every Object (and every level of a State) a comment counting its values
per Variable kind: ``MLP( # Param: 165 (660 B), BatchStat: 32 (128 B), Total: 197 (788 B)``.
A Variable shared by two modules is counted once.

A node reached a second time (shared, or a cycle back to an ancestor) prints as a
reference to the path where it was first shown, ``<shared Linear: model.linear1>``, so
reprs of shared or cyclic graphs stay finite and say where the other copy lives.

This module needs only numpy and jax: the treescope rendering lives in ``nnx-display``.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from nnx_graph._errors import describe
from nnx_graph._graphdef import Edge, GraphDef
from nnx_graph._object import Object
from nnx_graph._paths import Path, format_path
from nnx_graph._state import State
from nnx_graph._variable import Variable
from nnx_graph._variable_state import VariableState

_INDENT = "  "
Summary = dict[str, list[int]]  # kind name -> [values, bytes], in order of first appearance


def render_text(value: Any, root: str = "model") -> str:
    """The readable text tree of ``value``: an Object, Variable, State, GraphDef or pytree.

    ``root`` is the name that references to shared nodes start from.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.zeros((2, 3)))
    ...         self.again = self.w
    >>> print(render_text(Block()))
    Block( # Variable: 6 (24 B)
      w=Variable(value=Array(shape=(2, 3), dtype=float32)),
      again=<shared Variable: model.w>,
    )
    """
    if isinstance(value, GraphDef):
        return graphdef_repr(value, root)
    return _Renderer(root).render(value, (), 0)


def object_repr(obj: Any) -> str:
    """The text tree of ``obj`` (an Object); what ``repr(module)`` prints."""
    return render_text(obj)


# -- sizes -------------------------------------------------------------------------------


def value_size(value: Any) -> tuple[int, int]:
    """The number of scalars in ``value`` (an array or pytree of arrays) and their bytes.

    >>> import numpy as np
    >>> value_size({'a': np.zeros((2, 3), np.float32), 'b': 1.0})
    (7, 32)
    """
    count = nbytes = 0
    for leaf in jax.tree.leaves(value):
        shape = getattr(leaf, "shape", None)
        if isinstance(shape, tuple):
            size = math.prod(shape)
            leaf_bytes = getattr(leaf, "nbytes", None)
            if leaf_bytes is None:  # ShapeDtypeStruct: abstract, but its size is known
                leaf_bytes = size * _itemsize(getattr(leaf, "dtype", None))
            count, nbytes = count + size, nbytes + int(leaf_bytes)
        elif isinstance(leaf, bool | int | float | complex):
            count, nbytes = count + 1, nbytes + np.asarray(leaf).nbytes
    return count, nbytes


def _itemsize(dtype: Any) -> int:
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return int(getattr(dtype, "itemsize", 0))


def format_bytes(nbytes: int) -> str:
    """Bytes in decimal units, as a person reads them.

    >>> format_bytes(788), format_bytes(12_345), format_bytes(3_000_000)
    ('788 B', '12.3 KB', '3.0 MB')
    """
    if nbytes < 1000:
        return f"{nbytes} B"
    size = float(nbytes)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def format_summary(summary: Summary) -> str:
    """``Param: 165 (660 B), BatchStat: 32 (128 B), Total: 197 (788 B)``; '' when empty."""
    parts = [f"{kind}: {n:,} ({format_bytes(b)})" for kind, (n, b) in summary.items()]
    if len(summary) > 1:
        count = sum(c for c, _ in summary.values())
        nbytes = sum(b for _, b in summary.values())
        parts.append(f"Total: {count:,} ({format_bytes(nbytes)})")
    return ", ".join(parts)


def size_summary(value: Any) -> str:
    """The per-kind counts of ``value``'s Variables, as the reprs print them.

    Each Variable is counted once however often it is shared; '' when there are none.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Object, Variable
    >>> node = Object()
    >>> node.w = Variable(jnp.zeros((2, 3)))
    >>> size_summary(node)
    'Variable: 6 (24 B)'
    """
    return format_summary(summarize(value))


def summarize(value: Any) -> Summary:
    """Values and bytes per Variable kind in ``value``'s graph, each Variable counted once.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Object, Variable
    >>> node = Object()
    >>> node.w = Variable(jnp.zeros(4))
    >>> node.shared = [node.w, node.w]
    >>> summarize(node)
    {'Variable': [4, 16]}
    """
    summary: Summary = {}
    for kind, leaf in _variables(value, set()):
        count, nbytes = value_size(leaf)
        entry = summary.setdefault(kind, [0, 0])
        entry[0] += count
        entry[1] += nbytes
    return summary


def _variables(value: Any, seen: set[int]) -> Iterator[tuple[str, Any]]:
    """Every distinct Variable (or VariableState) under ``value``: (kind name, value)."""
    if isinstance(value, Variable):
        if id(value) not in seen:
            seen.add(id(value))
            yield type(value).__name__, value.raw_value
        return
    if isinstance(value, VariableState):
        yield value.type.__name__, value.value
        return
    items = _items(value)
    if items is None or id(value) in seen:
        return
    seen.add(id(value))
    for _, child in items:
        yield from _variables(child, seen)


def _items(value: Any) -> list[tuple[Any, Any]] | None:
    """The children of a graph node or container, or None for a leaf."""
    if isinstance(value, Object):
        return list(vars(value).items())
    if isinstance(value, State):
        return list(value.raw_mapping.items())
    if isinstance(value, Mapping):  # a dict, or an immutable mapping (an optimizer's)
        return list(value.items())
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    return None


# -- values ------------------------------------------------------------------------------


def short_value(value: Any) -> str:
    """An array as its shape and dtype (a scalar as itself); any other value as its repr.

    >>> import numpy as np
    >>> short_value(np.zeros((2, 3), np.float32)), short_value(np.array(2, np.uint8))
    ('ndarray(shape=(2, 3), dtype=float32)', 'array(2, dtype=uint8)')
    """
    if isinstance(value, jax.Array | np.ndarray):
        text = repr(value)
        if value.ndim == 0 and "\n" not in text:
            return text
        return describe(value)
    if isinstance(value, type):  # a dtype like jnp.float32, or a Variable kind
        return value.__name__
    if isinstance(value, jax.ShapeDtypeStruct):
        return f"ShapeDtypeStruct(shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, types.MethodType):  # its repr would print the whole owner
        return f"<bound method {type(value.__self__).__name__}.{value.__name__}>"
    text = repr(value)
    return text if "\n" not in text else describe(value)


def _variable_line(kind: str, value: Any, metadata: dict[str, Any], state: bool) -> str:
    items = [f"type={kind}"] if state else []
    items.append(f"value={short_value(value)}")
    items += [f"{k}={short_value(v)}" for k, v in metadata.items()]
    return f"{'VariableState' if state else kind}({', '.join(items)})"


def _block(head: str, close: str, lines: list[str], depth: int) -> str:
    if not lines:
        return head.split(" #")[0] + close
    pad = _INDENT * (depth + 1)
    inner = "".join(f"{pad}{line},\n" for line in lines)
    return f"{head}\n{inner}{_INDENT * depth}{close}"


class _Renderer:
    """One rendering: remembers where each node was first shown, to refer back to it."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.seen: dict[int, Path] = {}

    def render(self, value: Any, path: Path, depth: int) -> str:
        if isinstance(value, Object | Variable | list | dict | State):
            if id(value) in self.seen:
                name = type(value).__name__
                return f"<shared {name}: {format_path(self.seen[id(value)], self.root)}>"
            self.seen[id(value)] = path
        if isinstance(value, GraphDef):  # inside a pytree, e.g. display(graphdef, state)
            return graphdef_repr(value, self.root).replace("\n", "\n" + _INDENT * depth)
        if isinstance(value, Variable):
            return _variable_line(
                type(value).__name__, value.raw_value, value.get_metadata(), state=False
            )
        if isinstance(value, VariableState):
            return _variable_line(value.type.__name__, value.value, value.metadata, state=True)
        if isinstance(value, Object):
            return self._node(f"{type(value).__name__}(", ")", value, path, depth, _attr)
        if isinstance(value, State):
            return self._node("State({", "})", value, path, depth, _key, nested=True)
        if isinstance(value, Mapping) and _holds_graph(value.values()):
            return self._node("{", "}", value, path, depth, _key, counted=False)
        if isinstance(value, list | tuple) and _holds_graph(value):
            if isinstance(value, list):
                open_, close = "[", "]"
            elif hasattr(value, "_fields"):  # a namedtuple, e.g. an optax state
                open_, close = f"{type(value).__name__}(", ")"
            else:
                open_, close = "(", ")"
            return self._node(open_, close, value, path, depth, _position, counted=False)
        return short_value(value)

    def _node(
        self,
        open_: str,
        close: str,
        value: Any,
        path: Path,
        depth: int,
        label: Callable[[Any, Any], str],
        counted: bool = True,
        nested: bool = False,
    ) -> str:
        items = _items(value) or []
        if hasattr(value, "_fields"):
            items = list(zip(value._fields, value, strict=True))
            label = _attr
        summary = size_summary(value) if counted else ""
        head = f"{open_} # {summary}" if summary else open_
        lines = []
        for key, child in items:
            if nested and type(child) is dict:  # a State's inner level: a mapping, counted
                text = self._node("{", "}", child, (*path, key), depth + 1, _key, nested=True)
            else:
                text = self.render(child, (*path, key), depth + 1)
            lines.append(label(key, value) + text)
        return _block(head, close, lines, depth)


def _attr(key: Any, _: Any) -> str:
    return f"{key}="


def _key(key: Any, _: Any) -> str:
    return f"{key!r}: "


def _position(key: Any, _: Any) -> str:
    return ""


def _holds_graph(values: Any) -> bool:
    return any(isinstance(v, _GRAPH_TYPES) for v in values)


_GRAPH_TYPES = (Object, Variable, VariableState, State, jax.Array, np.ndarray, list, dict, tuple)


# -- GraphDef ----------------------------------------------------------------------------


def graphdef_repr(graphdef: GraphDef, root: str = "model") -> str:
    """The text form of a GraphDef: node kinds, static attributes and sharing, no values.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable, graphdef
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.zeros(2))
    ...         self.size = 2
    >>> print(graphdef_repr(graphdef(Block())))
    GraphDef(
      Block(
        size=2,
        w=Variable,
      ),
    )
    """
    paths: dict[int, Path] = {}
    if len(graphdef.edges) == 1:
        lines = [_edge(graphdef.edges[0], (), paths, root, 1)]
    else:
        lines = [_edge(e, (i,), paths, root, 1) for i, e in enumerate(graphdef.edges)]
    return _block("GraphDef(", ")", lines, 0)


def _edge(edge: Edge, path: Path, paths: dict[int, Path], root: str, depth: int) -> str:
    tag = edge[0]
    if tag == "static":
        return short_value(edge[1])
    if tag == "array":
        return "Array"
    if tag == "ref":
        return f"<shared: {format_path(paths[edge[1]], root)}>"
    if tag == "method":
        owner = format_path(paths[edge[1]], root)
        return f"<method {getattr(edge[2].value, '__name__', '?')} of {owner}>"
    if tag == "var":
        paths[edge[1]] = path
        metadata = dict(edge[3]) if edge[3] else {}
        if not metadata:
            return str(edge[2].__name__)
        text = ", ".join(f"{k}={short_value(v)}" for k, v in metadata.items())
        return f"{edge[2].__name__}({text})"
    if tag == "object" or tag == "dict" or tag == "list":
        paths[edge[1]] = path
    items: tuple[tuple[Any, Edge], ...]
    if tag == "object":
        head, close, items, label = f"{edge[2].__name__}(", ")", edge[3], _attr
    elif tag == "dict":
        head, close, items, label = "{", "}", edge[2], _key
    elif tag == "pytree":
        head, close, items, label = f"{_pytree_name(edge[1])}(", ")", edge[2], _attr
    else:  # list or tuple
        head, close = ("[", "]") if tag == "list" else ("(", ")")
        items, label = tuple(enumerate(edge[-1])), _position
    lines = [
        label(key, None) + _edge(child, (*path, key), paths, root, depth + 1)
        for key, child in items
    ]
    return _block(head, close, lines, depth)


def _pytree_name(treedef: Any) -> str:
    try:
        return str(treedef.node_data()[0].__name__)
    except (AttributeError, TypeError, IndexError):
        return "pytree"
