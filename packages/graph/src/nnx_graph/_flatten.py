"""Flatten an object graph into (GraphDef, leaves) and build one back.

This is the one traversal every operation shares: ``split``/``merge``/``update`` and
the transforms' call protocol. ``flatten`` walks attributes in sorted order (so equal
structures give equal GraphDefs), gives every shared node an index on first visit, and
records for each state leaf where it lives (its *slot*) so that values can later be
written back without walking the graph again.

``unflatten`` is its inverse. Given ``existing`` nodes (index -> object), it updates
those objects in place instead of building new ones: this is how a transform carries
mutations, structural ones included, from its inner copies back to the caller's objects.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from nnx_graph import _tracking
from nnx_graph._errors import StaticAttributeError, describe, message
from nnx_graph._flatgraph import ARRAY_TYPES, FlatGraph, marked
from nnx_graph._graphdef import Edge, GraphDef
from nnx_graph._marks import DATA_TYPES
from nnx_graph._object import Object, init_object
from nnx_graph._paths import Path, format_path, root_name
from nnx_graph._static import FUNCTION_TYPES, ByEquality, ByValue
from nnx_graph._variable import EscapedValue, Variable

# Types that are static without asking jax whether they are pytrees (the common case).
# Functions are static too, but go through ``_static`` to compare by value.
_PLAIN_STATIC = (
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type,
    types.BuiltinFunctionType,
    np.generic,
    np.dtype,
)
_STATIC_TYPES = frozenset(_PLAIN_STATIC) | {type(None)}
_SLOTS = vars(Variable)
_set_variable_value = _SLOTS["_value"].__set__
_set_metadata = _SLOTS["_metadata"].__set__
_set_trace = _SLOTS["_trace"].__set__
_set_watched = _SLOTS["_watched"].__set__
_set_calls = _SLOTS["_nnx_calls"].__set__
_set_object_watched = vars(Object)["_nnx_watched"].__set__


def new_variable(
    kind: type[Variable[Any]], value: Any, metadata: dict[str, Any], trace: Any
) -> Any:
    """A Variable built without ``__init__`` (and its per-call trace lookup): merge's hot path."""
    variable = object.__new__(kind)
    _set_variable_value(variable, value)
    _set_metadata(variable, metadata)
    _set_trace(variable, trace)
    _set_watched(variable, False)
    _set_calls(variable, None)
    return variable


def sorted_keys(mapping: dict[Any, Any]) -> list[Any]:
    """Keys in sorted order when they sort, else in insertion order."""
    try:
        return sorted(mapping)
    except TypeError:
        return list(mapping)


def flatten(
    roots: Sequence[Any],
    *,
    ref_index: dict[int, int] | None = None,
    first_new_index: int = 0,
    root_names: Sequence[str] | None = None,
    watch: bool = False,
) -> FlatGraph:
    """Flatten ``roots`` jointly: nodes shared between them are recorded once.

    Args:
      roots: the graph roots (Objects, Variables, containers, pytrees).
      ref_index: ``id(node) -> index`` for nodes that must keep a known index (a
        transform's inner copies of its input nodes); others get fresh indices.
      first_new_index: the first index given to a node not in ``ref_index``.
      root_names: how to name each root in error messages.
      watch: mark every Object and Variable watched as the walk reaches it (before
        reading it), for a walk a cache will keep: any later edit bumps the epoch.
    """
    flat = FlatGraph()
    leaves, paths, slots, nodes = flat.leaves, flat.paths, flat.slots, flat.nodes
    mutables, snapshots = flat.mutables, flat.snapshots
    seen: dict[int, int] = {}
    preset = ref_index or {}
    counter = [first_new_index]
    problems: list[str] = []
    single = len(roots) == 1
    names = root_names or ([root_name(roots[0])] if single else None)

    def index_of(node: Any) -> int:
        index = preset.get(id(node))
        if index is None:
            index = counter[0]
            counter[0] += 1
        seen[id(node)] = index
        nodes.append(node)
        return index

    def visit(x: Any, path: Path, holder: Any, key: Any) -> Edge:
        # Ordered by frequency, cheapest test first: split's cost is this function.
        if isinstance(x, Variable):
            index = seen.get(id(x))
            if index is not None:
                return ("ref", index)
            index = index_of(x)
            if watch:
                _set_watched(x, True)
            leaves.append(x._value)
            paths.append(path)
            slots.append(x)
            metadata = tuple(x._metadata.items())
            if metadata:
                _check_hashable(metadata, path, "metadata of", problems, names, single)
            return ("var", index, type(x), metadata)
        if isinstance(x, Object):
            index = seen.get(id(x))
            if index is not None:
                return ("ref", index)
            index = index_of(x)
            if watch:
                _set_object_watched(x, True)
            attrs = x.__dict__
            edges = []
            marks = type(x)._nnx_marks
            for k in sorted_keys(attrs):
                value = attrs[k]
                value_kind = type(value)
                if marks is not None and k in marks:  # nnx.data / nnx.static
                    edges.append((k, visit_marked(value, marks[k], (*path, k), x, k)))
                elif value_kind in _STATIC_TYPES:  # most attributes: no call, no path
                    edges.append((k, ("static", value, value_kind)))
                else:
                    edges.append((k, visit(value, (*path, k), x, k)))
            return ("object", index, type(x), tuple(edges))
        kind = type(x)
        if kind in _STATIC_TYPES or isinstance(x, _PLAIN_STATIC):
            return ("static", x, kind)
        if isinstance(x, ARRAY_TYPES) or (DATA_TYPES and kind in DATA_TYPES):
            leaves.append(x)
            paths.append(path)
            slots.append((holder, key))
            flat.only_variables = False
            if not isinstance(holder, Object | list | dict):
                flat.writable = False  # a tuple or other immutable pytree node
            return ("array",)
        if kind is list:
            index = seen.get(id(x))
            if index is not None:
                return ("ref", index)
            index = index_of(x)
            items = list(x)  # the snapshot is what this walk reads
            mutables.append(x)
            snapshots.append(marked(items))
            return ("list", index, tuple(visit(v, (*path, i), x, i) for i, v in enumerate(items)))
        if kind is dict:
            index = seen.get(id(x))
            if index is not None:
                return ("ref", index)
            index = index_of(x)
            pairs = list(x.items())
            mutables.append(x)
            snapshots.append(([k for k, _ in pairs], marked([v for _, v in pairs])))
            return (
                "dict",
                index,
                # insertion order, not sorted: users iterate dicts of layers in order
                tuple((k, visit(v, (*path, k), x, k)) for k, v in pairs),
            )
        if kind is tuple:
            return ("tuple", tuple(visit(v, (*path, i), x, i) for i, v in enumerate(x)))
        if isinstance(x, FUNCTION_TYPES):
            return visit_function(x, path)
        return visit_other(x, path)

    def visit_function(x: Any, path: Path) -> Edge:
        owner = x.__self__ if type(x) is types.MethodType else None
        if owner is not None and id(owner) in seen:
            # A method of a node of this graph: bound again to that node's copy on
            # unflatten, so it never ties the GraphDef to this particular object.
            return ("method", seen[id(owner)], ByValue(x.__func__))
        try:
            return ("static", ByValue(x), type(x))
        except TypeError:  # a closure holding something unhashable
            _check_hashable(x, path, "", problems, names, single)
            return ("static", x, type(x))

    def visit_other(x: Any, path: Path) -> Edge:
        try:
            children, aux = jax.tree_util.flatten_one_level(x)
        except ValueError:  # not a pytree: a static value, hashable or compared by ==
            return visit_static(x, path)

        # One level of the pytree, with its keys. (flatten_one_level_with_keys would be
        # the direct call, but jax 0.10 gives every namedtuple field the first name.)
        def one_level(y: Any) -> bool:
            return y is not x

        keyed_children, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=one_level)
        if not isinstance(x, tuple):
            mutables.append(x)
            snapshots.append((aux, marked(children)))
        # A dict subclass (OrderedDict, defaultdict) is read and written by key; any
        # other node by position (see ``read_slot``).
        by_key = isinstance(x, dict)
        edges = []
        for i, ((k, *_), child) in enumerate(keyed_children):
            name = _key_name(k)
            edges.append((name, visit(child, (*path, name), x, name if by_key else i)))
        return ("pytree", treedef, tuple(edges))

    def visit_marked(x: Any, is_data: bool, path: Path, holder: Any, key: Any) -> Edge:
        if not is_data:
            return visit_static(x, path)
        if isinstance(x, (Variable, Object, list, dict, tuple, *ARRAY_TYPES)):
            return visit(x, path, holder, key)
        leaves.append(x)  # a scalar or other value marked as data: a bare leaf
        paths.append(path)
        slots.append((holder, key))
        flat.only_variables = False
        return ("array",)

    def visit_static(x: Any, path: Path) -> Edge:
        try:
            hash(x)
            return ("static", x, type(x))
        except TypeError:
            pass
        try:
            by_equality = ByEquality(x)
        except TypeError:
            _check_hashable(x, path, "", problems, names, single)
            return ("static", x, type(x))
        mutables.append(x)  # an edit in place makes a cached walk of it stale
        snapshots.append(by_equality)
        return ("static", by_equality, type(x))

    edge_list = []
    for i, root in enumerate(roots):
        edge_list.append(visit(root, () if single else (i,), None, None))
        flat.root_ends.append(len(leaves))
    edges = tuple(edge_list)
    if problems:
        raise StaticAttributeError(
            message(
                "Cannot flatten the object graph: static attributes must be hashable.",
                problems,
                expected="attributes that are arrays, Variables, Objects, containers of "
                "those, or hashable static values (ints, strings, tuples, functions)",
                fix="wrap array-like data in a Variable (`self.x = nnx.Variable(x)`), "
                "store a tuple instead of a list/set of static values, or make a config "
                "class hashable (`@dataclasses.dataclass(frozen=True)`)",
            )
        )
    flat.graphdef = GraphDef(edges)
    return flat


def _key_name(key: Any) -> Any:
    for attribute in ("name", "key", "idx"):
        if hasattr(key, attribute):
            return getattr(key, attribute)
    return key


def _check_hashable(
    value: Any,
    path: Path,
    what: str,
    problems: list[str],
    root_names: Sequence[str] | None,
    single: bool,
) -> None:
    try:
        hash(value)
    except TypeError:
        problems.append(
            f"{what + ' ' if what else ''}{_format(path, root_names, single)}: "
            f"{describe(value)} is not hashable"
        )


def _format(path: Path, root_names: Sequence[str] | None, single: bool) -> str:
    if single:
        return format_path(path, root_names[0] if root_names else "model")
    position: Any = path[0]
    name = root_names[position] if root_names else f"arg{position}"
    return format_path(path[1:], name)


def unflatten(
    graphdef: GraphDef,
    leaves: Sequence[Any],
    *,
    existing: Sequence[Any] | None = None,
    recreate_variables: bool = True,
) -> tuple[tuple[Any, ...], dict[int, Any]]:
    """Build the roots of ``graphdef`` from ``leaves``, reusing ``existing`` nodes.

    Leaves are raw values, or Variables (a State's: those of the current trace are used
    as they are, shared with the State; their kind and metadata win over the GraphDef's).
    A raw value where the GraphDef has a Variable is wrapped in a new one of the
    GraphDef's kind, unless ``recreate_variables=False`` puts the value there itself.
    A node whose index is below ``len(existing)`` is the object ``existing[index]``
    updated in place; every other node is new.

    Returns the roots and the ``index -> node`` map of every indexed node built or reused.
    """
    nodes: dict[int, Any] = {}
    position = [0]
    reuse = existing or ()
    trace = _tracking.current_trace()  # asked once: every node built here belongs to it
    here = _tracking.trace_ref_of(trace)
    n_reuse = len(reuse)

    def next_leaf() -> Any:
        leaf = leaves[position[0]]
        position[0] += 1
        return leaf

    def build(edge: Edge) -> Any:
        tag = edge[0]
        if tag == "static":
            value = edge[1]
            return value.value if isinstance(value, ByValue) else value
        if tag == "ref":
            node = nodes.get(edge[1])
            # a partial GraphDef (a transform's outputs) may refer to nodes built earlier
            return node if node is not None else reuse[edge[1]]
        if tag == "var":
            _, index, kind, metadata = edge
            leaf = next_leaf()
            if not recreate_variables and not isinstance(leaf, Variable):
                nodes[index] = leaf  # a later reference to this Variable finds the value
                return leaf
            variable = reuse[index] if index < n_reuse else None
            if isinstance(leaf, Variable):  # a State's Variable: its kind and metadata win
                if variable is leaf or (
                    variable is None and _tracking.trace_ref_of(leaf._trace) is here
                ):
                    # merge shares the State's Variables (0.12), when they belong to
                    # this trace; one from outside (a State captured by a function
                    # under jax.grad) is copied, as 0.10 did, so writes stay inside.
                    nodes[index] = leaf
                    return leaf
                kind, value, meta = type(leaf), leaf._value, dict(leaf._metadata)
            else:
                value, meta = leaf, dict(metadata)
            if variable is None or type(variable) is not kind:
                variable = new_variable(kind, value, meta, trace)
            else:
                _set_variable_value(variable, value)
                if variable._metadata != meta:
                    object.__setattr__(variable, "_metadata", meta)
            nodes[index] = variable
            return variable
        if tag == "array":
            return next_leaf()
        if tag == "object":
            _, index, kind, attrs = edge
            obj = reuse[index] if index < n_reuse else None
            if obj is None or type(obj) is not kind:
                obj = object.__new__(kind)
                init_object(obj, trace)
                nodes[index] = obj
                obj.__dict__.update({k: build(e) for k, e in attrs})
            else:
                nodes[index] = obj
                new = {k: build(e) for k, e in attrs}
                current = obj.__dict__
                for k in [k for k in current if k not in new]:
                    del current[k]
                current.update(new)
            return obj
        if tag == "list":
            _, index, items = edge
            lst = reuse[index] if index < n_reuse and type(reuse[index]) is list else []
            nodes[index] = lst
            lst[:] = [build(e) for e in items]
            return lst
        if tag == "dict":
            _, index, items = edge
            dct = reuse[index] if index < n_reuse and type(reuse[index]) is dict else {}
            nodes[index] = dct
            new_items = {k: build(e) for k, e in items}
            dct.clear()
            dct.update(new_items)
            return dct
        if tag == "tuple":
            return tuple(build(e) for e in edge[1])
        if tag == "pytree":
            _, treedef, items = edge
            return treedef.unflatten([build(e) for _, e in items])
        if tag == "method":
            owner = nodes.get(edge[1])
            return types.MethodType(edge[2].value, owner if owner is not None else reuse[edge[1]])
        raise AssertionError(f"unknown GraphDef edge {tag!r}")  # internal invariant

    roots = tuple(build(edge) for edge in graphdef.edges)
    if position[0] != len(leaves):
        raise AssertionError("unflatten: leaf count does not match GraphDef")  # invariant
    return roots, nodes


def mark_escaped(nodes: Sequence[Any] | Any, origin: str = "") -> None:
    """Poison nodes built inside a transform so later use raises a clear error.

    ``origin`` says where they were built (``"nnx.jit (tracing build)"``) for the error.
    Their cached walks are dropped, so passing one to a transform walks it again and
    meets the poison instead of reading it from a stale cache entry.
    """
    escaped = EscapedValue(origin)
    for node in nodes:
        if isinstance(node, Variable):
            _set_variable_value(node, escaped)
            _set_calls(node, None)
        elif isinstance(node, Object):
            object.__setattr__(node, "_nnx_escaped", escaped)
            object.__setattr__(node, "_nnx_calls", None)
