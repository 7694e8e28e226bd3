"""FlatGraph: one walk of an object graph, and how to read and write its leaves again.

``flatten`` produces it; the caches keep it (``_cache``) so that a later call with the
same, unchanged objects only reads the leaf values out of the *slots* the walk recorded,
and writes new values back into them, instead of walking again.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import numpy as np

from nnx_graph import _tracking
from nnx_graph._graphdef import GraphDef
from nnx_graph._object import Object
from nnx_graph._paths import Path, format_path
from nnx_graph._static import ByEquality
from nnx_graph._variable import Variable

ARRAY_TYPES = (jax.Array, np.ndarray)
# The slot descriptor's setter: writes a value without Variable.__setattr__'s checks.
_set_variable_value = vars(Variable)["_value"].__set__
_variable_value = operator.attrgetter("_value")
_UNSET: Any = object()


class FlatGraph:
    """The result of ``flatten``: structure, leaf values, and where each leaf lives.

    Attributes:
      graphdef: the structure of all roots together.
      leaves: one value per state leaf, in traversal order (empty in a cached copy:
        caches hold no array values).
      paths: each leaf's path (prefixed by the root position when there are several roots).
      slots: each leaf's home: the Variable, or ``(holder, key)`` for a bare array
        (``key`` a position for pytree nodes that are not lists or dicts).
      nodes: every indexed node (Objects, Variables, lists, dicts), by index; a cached
        copy has ``None`` where a weakly held root was (see ``nodes_with``).
      root_ends: for each root, the number of leaves flattened once it was done.
      mutables: the lists, dicts and mutable pytree nodes, whose in-place edits are
        invisible to the epoch and are checked by snapshot instead.
      snapshots: each mutable's children as the walk saw them (arrays as a marker).
      only_variables: every slot is a Variable (the fast write-back applies).
      writable: every slot can be written in place (no bare array inside a tuple or
        other immutable pytree node).
    """

    __slots__ = (
        "_trace_ref",
        "graphdef",
        "holes",
        "leaves",
        "mutables",
        "nodes",
        "only_variables",
        "paths",
        "root_ends",
        "slots",
        "snapshots",
        "writable",
    )

    def __init__(self) -> None:
        self.leaves: list[Any] = []
        self.paths: list[Path] = []
        self.slots: list[Any] = []
        self.nodes: list[Any] = []
        self.mutables: list[Any] = []
        self.snapshots: list[Any] = []
        self.root_ends: list[int] = []
        self.holes: tuple[tuple[int, int], ...] = ()
        self.only_variables = True
        self.writable = True
        self._trace_ref: Any = _UNSET
        self.graphdef: GraphDef

    def mutables_unchanged(self) -> bool:
        """Whether no list, dict or mutable pytree node was edited since the walk."""
        return all(map(unchanged, self.mutables, self.snapshots))

    def read_leaves(self) -> list[Any]:
        """The current values of every slot (after the graph's values may have changed)."""
        if self.only_variables:
            return list(map(_variable_value, self.slots))
        return [read_slot(slot) for slot in self.slots]

    def write_leaves(self, values: Sequence[Any]) -> None:
        """Write new values into the slots; the structure must be the one flattened.

        All or nothing against an interrupt: the values are all computed already, and
        writing one is idempotent, so an exception (a KeyboardInterrupt) arriving
        part-way finishes the writes before it propagates.
        """
        pairs = list(zip(self.slots, values, strict=True))
        try:
            _write_pairs(pairs, self.only_variables)
        except BaseException:
            _write_pairs(pairs, self.only_variables)
            raise

    def write_some(self, indices: Sequence[int], values: Sequence[Any]) -> None:
        """Write ``values`` into the slots at ``indices`` only (all or nothing, as above)."""
        slots = self.slots
        pairs = [(slots[i], value) for i, value in zip(indices, values, strict=True)]
        try:
            _write_pairs(pairs, self.only_variables)
        except BaseException:
            _write_pairs(pairs, self.only_variables)
            raise

    def cached_copy(
        self,
        roots: Sequence[Any],
        *,
        keep_nodes: bool = True,
        transient: frozenset[int] = frozenset(),
    ) -> FlatGraph:
        """A copy to keep in a cache: no leaf values, and ``roots[1:]`` not held.

        The roots after the first are held weakly by the cache entry; here their places
        among the nodes become holes that ``nodes_with`` fills from the next call's
        arguments (a Variable root stays in ``slots``, where reading it needs it).
        ``keep_nodes=False`` drops the nodes altogether (``split`` never writes back);
        ``transient`` are the ids of containers built for one call only (the tuple in
        ``split((model, optimizer))``), whose contents the cache key already fixes.
        """
        self.trace_ref()  # computed while every node is here
        copy = FlatGraph()
        for name in self.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        copy.leaves = []
        if transient:
            kept = [i for i, node in enumerate(self.mutables) if id(node) not in transient]
            copy.mutables = [self.mutables[i] for i in kept]
            copy.snapshots = [self.snapshots[i] for i in kept]
        if not keep_nodes:
            copy.nodes = []
            return copy
        positions = {id(root): i for i, root in enumerate(roots) if i > 0}
        holes = [(i, positions[id(n)]) for i, n in enumerate(self.nodes) if id(n) in positions]
        if holes:
            copy.nodes = list(self.nodes)
            for index, _ in holes:
                copy.nodes[index] = None
            copy.holes = tuple(holes)
        return copy

    def nodes_with(self, roots: Sequence[Any]) -> list[Any]:
        """``nodes`` with the holes of a cached copy filled from this call's roots."""
        if not self.holes:
            return self.nodes
        nodes = list(self.nodes)
        for index, position in self.holes:
            nodes[index] = roots[position]
        return nodes

    def trace_ref(self) -> Any:
        """The trace every node belongs to (its weak reference), or None if they differ."""
        if self._trace_ref is _UNSET:
            refs = {id(ref): ref for ref in map(node_trace_ref, self.nodes) if ref is not None}
            self._trace_ref = next(iter(refs.values())) if len(refs) == 1 else None
        return self._trace_ref


def node_trace_ref(node: Any) -> Any:
    """The weak reference to the trace ``node`` was created in (None for containers)."""
    if isinstance(node, Variable):
        return _tracking.trace_ref_of(node._trace)
    if isinstance(node, Object):
        return _tracking.trace_ref_of(node._nnx_trace)
    return None


def _write_pairs(pairs: list[tuple[Any, Any]], only_variables: bool) -> None:
    if only_variables:
        for variable, value in pairs:
            _set_variable_value(variable, value)
    else:
        for slot, value in pairs:
            write_slot(slot, value)


def read_slot(slot: Any) -> Any:
    """The value a slot holds now."""
    if isinstance(slot, Variable):
        return slot._value
    holder, key = slot
    if isinstance(holder, Object):
        return holder.__dict__[key]
    if isinstance(holder, list | dict):
        return holder[key]
    children = list(jax.tree_util.flatten_one_level(holder)[0])
    return children[key]  # other pytrees: by position


def write_slot(slot: Any, value: Any) -> None:
    """Write ``value`` into a slot (an Object attribute, a list item or a dict entry)."""
    if isinstance(slot, Variable):
        _set_variable_value(slot, value)
        return
    holder, key = slot
    if isinstance(holder, Object):
        holder.__dict__[key] = value
    else:
        holder[key] = value


# -- snapshots of mutable containers --------------------------------------------------

# Stands for "an array" in a snapshot: array values change every step without changing
# the structure, and a snapshot must not keep them alive.
ARRAY_MARK: Any = type("ArrayMark", (), {"__repr__": lambda self: "<array>"})()


def marked(children: Iterable[Any]) -> list[Any]:
    """Children as a snapshot keeps them: arrays replaced by ``ARRAY_MARK``."""
    return [ARRAY_MARK if isinstance(c, ARRAY_TYPES) else c for c in children]


def snapshot(node: Any) -> Any:
    """A mutable node's children as they are now, to compare by identity later.

    The children are held, not their ids, so that no id can be reused meanwhile (arrays
    excepted: any array matches the mark); a dict or pytree node also records its keys
    or aux data.
    """
    if type(node) is list:
        return marked(node)
    if type(node) is dict:
        return (list(node), marked(node.values()))
    children, aux = jax.tree_util.flatten_one_level(node)
    return (aux, marked(children))


def _same_children(now: Sequence[Any], then: list[Any]) -> bool:
    if len(now) != len(then):
        return False
    if all(map(operator.is_, now, then)):  # in C: the usual case, no array in the node
        return True
    for child, seen in zip(now, then, strict=True):
        if child is not seen and not (seen is ARRAY_MARK and isinstance(child, ARRAY_TYPES)):
            return False
    return True


def unchanged(node: Any, snap: Any) -> bool:
    """Whether ``node``'s children are those of ``snap`` (arrays: any array)."""
    if type(node) is list:
        return _same_children(node, snap)
    if type(node) is dict:
        return list(node) == snap[0] and _same_children(list(node.values()), snap[1])
    if isinstance(snap, ByEquality):
        return snap.matches(node)
    children, aux = jax.tree_util.flatten_one_level(node)
    return bool(aux == snap[0]) and _same_children(list(children), snap[1])


# -- check mode -----------------------------------------------------------------------


def describe_difference(cached: FlatGraph, fresh: FlatGraph) -> list[str]:
    """What differs between a cached walk and a fresh one, one line per difference."""
    problems: list[str] = []
    if cached.graphdef != fresh.graphdef:
        problems.append(
            "the structure changed: " + _first_difference(cached.graphdef, fresh.graphdef)
        )
    old = dict(zip(cached.paths, cached.slots, strict=True))
    new = dict(zip(fresh.paths, fresh.slots, strict=True))
    for path in old.keys() - new.keys():
        problems.append(f"{_name(path, cached)}: gone from the graph, still in the cache")
    for path in new.keys() - old.keys():
        problems.append(f"{_name(path, fresh)}: new in the graph, missing from the cache")
    for path in old.keys() & new.keys():
        if not _same_slot(old[path], new[path]):
            problems.append(f"{_name(path, fresh)}: now held by another Variable or container")
    return problems


def _same_slot(a: Any, b: Any) -> bool:
    if isinstance(a, Variable) or isinstance(b, Variable):
        return a is b
    return bool(a[0] is b[0] and a[1] == b[1])


def _name(path: Path, flat: FlatGraph) -> str:
    if len(flat.graphdef.edges) == 1:
        return format_path(path, "model")
    return format_path(path[1:], f"args[{path[0]}]")


def _first_difference(a: GraphDef, b: GraphDef) -> str:
    found = _diff_edge(a.edges, b.edges, ())
    return found or "at the top"


def _diff_edge(a: Any, b: Any, path: tuple[Any, ...]) -> str | None:
    """The first place two GraphDef edges differ, with the attribute path leading to it."""
    if a == b:
        return None
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        named = len(a) == 2 and a[0] == b[0] and isinstance(a[1], tuple)  # (key, edge)
        for x, y in zip(a, b, strict=True):
            found = _diff_edge(x, y, (*path, a[0]) if named and x is a[1] else path)
            if found is not None:
                return found
    where = format_path(path, "") or "the top"
    return f"at {where}: {_short(a)} became {_short(b)}"


def _short(edge: Any) -> str:
    if isinstance(edge, tuple) and edge and edge[0] == "static":
        return repr(edge[1])
    text = repr(edge)
    return text if len(text) <= 80 else text[:77] + "..."
