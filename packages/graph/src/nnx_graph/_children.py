"""iter_children / iter_module_children: one level of the graph, where iter_graph walks it all.

A child is what a graph walk would step into that is itself a graph node: an Object
(a Module, Rngs, an ``nnx.List``) or a Variable held directly by the node. Arrays,
static attributes and plain containers held by the node are not children, as in flax
0.12 (the Modules inside a plain list attribute are reached through ``iter_graph``).
Children come in key order, each key as ``iter_graph`` writes it in a path; a child
held under two keys is listed under both, in either mode, since one level cannot tell
a shared reference from two attributes (flax's tree mode lists both too).

The node itself may be an Object or any container pytree (a list, a dict, a State).
In graph mode an Object's children are read from its attributes; in tree mode
(``graph=False``) from its pytree flatten, as flax does: the same children either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax

from nnx_graph._errors import GraphError, describe, message
from nnx_graph._flatten import sorted_keys
from nnx_graph._modes import resolve_graph
from nnx_graph._object import Object
from nnx_graph._paths import PathKey
from nnx_graph._variable import Variable


def iter_children(node: Any, /, *, graph: bool | None = None) -> Iterator[tuple[PathKey, Any]]:
    """The Objects and Variables ``node`` holds directly, as ``(key, child)`` in key order.

    ``iter_graph`` without the recursion: what to loop over to visit a model's direct
    sub-modules and parameters. ``graph=False`` (or ``set_graph_mode(False)``) lists the
    children the node's pytree flatten gives. Iterating a leaf (a Variable, an array)
    raises a ``GraphError``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(2))
    ...         self.inner = Module()
    ...         self.scale = jnp.ones(2)  # an array: not a child
    >>> [(key, type(child).__name__) for key, child in iter_children(Block())]
    [('inner', 'Module'), ('w', 'Variable')]
    """
    for key, child in _entries(node, graph, "nnx.iter_children"):
        if isinstance(child, Object | Variable | jax.Ref):
            yield key, child


def iter_module_children(
    node: Any, /, *, graph: bool | None = None
) -> Iterator[tuple[PathKey, Any]]:
    """The Objects ``node`` holds directly (its Modules, Rngs, ...), without its Variables.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(2))
    ...         self.inner = Module()
    >>> [key for key, _ in iter_module_children(Block())]
    ['inner']
    """
    for key, child in _entries(node, graph, "nnx.iter_module_children"):
        if isinstance(child, Object):
            yield key, child


def _entries(node: Any, graph: bool | None, op: str) -> list[tuple[PathKey, Any]]:
    """Every ``(key, value)`` one level below ``node``, children or not, in key order."""
    graph_mode = resolve_graph(graph)
    if isinstance(node, Variable):
        _refuse(node, op, "a Variable is a leaf of the graph: its value is `variable[...]`")
    if isinstance(node, Object) and graph_mode:
        attributes = vars(node)
        return [(key, attributes[key]) for key in sorted_keys(attributes)]
    if type(node) is dict:  # jax sorts dict keys and fails on a mix of ints and strs
        return [(key, node[key]) for key in sorted_keys(node)]
    entries, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if len(entries) == 1 and entries[0][0] == () and entries[0][1] is node:
        _refuse(node, op, None)  # a leaf of jax's: nothing below it
    return [(_key(path[0]), value) for path, value in entries]


def _key(entry: Any) -> PathKey:
    """A path key as ``iter_graph`` writes it, from a jax key path entry."""
    key: PathKey  # jax's key classes are untyped
    if isinstance(entry, jax.tree_util.SequenceKey):
        key = entry.idx
    elif isinstance(entry, jax.tree_util.DictKey | jax.tree_util.FlattenedIndexKey):
        key = entry.key
    elif isinstance(entry, jax.tree_util.GetAttrKey):
        key = entry.name
    else:
        key = str(entry)
    return key


def _refuse(node: Any, op: str, note: str | None) -> None:
    raise GraphError(
        message(
            f"{op} expected a graph node to list the children of, got {describe(node)}.",
            [note] if note else [],
            expected="an Object (a Module, Rngs, nnx.List, ...) or a container of them "
            "(a list, tuple, dict, State or other pytree)",
        )
    )
