"""The functional API: split, merge, update and their relatives.

``split`` separates a graph into a static GraphDef and one or more States of values;
``merge`` builds a fresh graph from them; ``update`` writes States back into an existing
graph in place. Together they let any object graph cross a JAX boundary as pytrees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

import jax
import jax.numpy as jnp

from nnx_graph._bare_variable import merge_variable, split_variable, update_variable
from nnx_graph._cache import GraphCache
from nnx_graph._errors import StateMismatchError, TraceContextError, describe, message
from nnx_graph._filters import Filter, to_predicate, warn_unmatched_names
from nnx_graph._flatgraph import FlatGraph
from nnx_graph._flatten import flatten, sorted_keys, unflatten
from nnx_graph._graphdef import GraphDef
from nnx_graph._modes import check_tree, resolve_graph
from nnx_graph._object import Object
from nnx_graph._paths import Path, format_path, root_name
from nnx_graph._state import State, flat_state_of, partition
from nnx_graph._variable import Variable
from nnx_graph._variable_state import VariableState

_SPLIT_CACHE: GraphCache[FlatGraph] = GraphCache(lambda flat: flat, "nnx.split")


def _is_graph_leaf(x: Any) -> bool:
    return isinstance(x, Object | Variable)


def _flatten_cached(node: Any) -> tuple[FlatGraph, list[Any]]:
    """``flatten((node,))`` and the current leaf values, reusing an unchanged earlier walk.

    Keyed by the identity of the objects at the top of ``node`` (``node`` itself, or the
    objects in a tuple/list/dict of them), so ``split((model, optimizer))`` hits even
    though the tuple is new each time. See ``_cache`` for why a hit is never stale.
    Anything else at the top (an array, a number) is walked afresh each time.
    """
    top, treedef = jax.tree_util.tree_flatten(node, is_leaf=_is_graph_leaf)
    transient: list[int] = []
    if not top or not _objects_in_containers(node, transient):
        flat = flatten((node,))
        return flat, flat.leaves

    def build() -> tuple[FlatGraph, FlatGraph]:
        flat = flatten((node,), watch=True)
        return flat, flat.cached_copy(top, keep_nodes=False, transient=frozenset(transient))

    flat, hit = _SPLIT_CACHE.lookup(treedef, top, build)
    return flat, flat.read_leaves() if hit else flat.leaves


def _objects_in_containers(node: Any, containers: list[int]) -> bool:
    """Whether ``node`` is objects in plain lists / tuples / dicts; collects their ids.

    Those containers are built for the call (``split((model, optimizer))``): the cache
    key fixes their contents, and the cache must not keep them.
    """
    if _is_graph_leaf(node):
        return True
    if type(node) is list or type(node) is dict:
        containers.append(id(node))
    elif type(node) is not tuple:
        return False
    children = node.values() if type(node) is dict else node
    return all(_objects_in_containers(child, containers) for child in children)


def _states_of(flat: FlatGraph, op: str, leaves: list[Any] | None = None) -> dict[Path, Any]:
    if flat.paths and flat.paths[0] == ():
        # A State is keyed by attribute paths; a root that is itself a leaf has none.
        raise TypeError(
            message(
                f"{op} needs a graph root (an Object or a container), got a bare "
                f"{describe(flat.leaves[0])}"
                + (f" in a {type(flat.slots[0]).__name__}." if flat.only_variables else "."),
                expected="a Module, an Object, or a list / dict / tuple holding Variables",
                fix=f"{op}([variable]), or hold the Variable in a Module attribute",
            )
        )
    # A State holds the graph's own Variables (as in Flax NNX 0.12): ``state['w'] is
    # model.w``. Bare arrays are held as they are.
    return {
        path: slot if isinstance(slot, Variable) else value
        for path, slot, value in zip(
            flat.paths, flat.slots, flat.leaves if leaves is None else leaves, strict=True
        )
    }


@overload
def split(node: Any, *, graph: bool | None = None) -> tuple[GraphDef, State]: ...
@overload
def split(node: Any, first: Filter, /, *, graph: bool | None = None) -> tuple[GraphDef, State]: ...
@overload
def split(
    node: Any, first: Filter, second: Filter, /, *filters: Filter, graph: bool | None = None
) -> tuple[Any, ...]: ...
def split(node: Any, *filters: Filter, graph: bool | None = None) -> tuple[Any, ...]:
    """Split a graph into its GraphDef and one State per filter.

    The filters must together match every state leaf; the first filter that matches a
    leaf takes it. Shared nodes appear once, at their first path. A string (a tag) or
    ``PathContains`` filter that matches nothing before a catch-all ``...`` warns with a
    ``FilterWarning`` when a name or tag in the graph is close to it (a likely typo).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Count(Variable): pass
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(3))
    ...         self.count = Count(jnp.array(0))
    >>> graphdef, counts, rest = split(Model(), Count, ...)
    >>> list(counts), list(rest)
    (['count'], ['w'])

    ``graph=False`` (tree mode) refuses a shared reference, naming both paths.
    """
    _check_mode(node, graph, "nnx.split")
    if isinstance(node, Variable):
        return split_variable(node, filters)
    flat, leaves = _flatten_cached(node)
    states = _states_of(flat, "nnx.split", leaves)
    if not filters:
        return flat.graphdef, State.from_flat_path(states)
    root = root_name(node)
    parts = partition(states, filters, op="nnx.split", root=root)
    warn_unmatched_names(
        states, filters, parts, op="nnx.split", call=f"nnx.split({root}, ", root=root
    )
    return (flat.graphdef, *(State.from_flat_path(part) for part in parts))


def merge(
    graphdef: GraphDef,
    state: Any = None,
    /,
    *states: State,
    copy: bool = False,
    recreate_variables: bool = True,
) -> Any:
    """Build a new graph from a GraphDef and the States ``split`` produced.

    The States together must hold exactly the leaves the GraphDef expects. The new graph
    holds the States' own Variables (as in Flax NNX 0.12), so ``merge(*split(model))``
    shares them with ``model``; ``copy=True`` (or ``clone``) copies them instead. A raw
    value in a State (an array where ``split`` put a Variable) becomes a new Variable of
    the GraphDef's kind and metadata; ``recreate_variables=False`` leaves it a raw value
    in the graph, as Flax NNX 0.12 does.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(3))
    >>> model = Model()
    >>> copy = merge(*split(model))
    >>> copy is model, copy.w.value.shape
    (False, (3,))
    """
    carried = getattr(graphdef, "graphdef", None)  # a GraphState from nnx.unpack
    if isinstance(carried, GraphDef) and isinstance(graphdef, State):
        rest = (state, *states) if state is not None else states
        return merge(carried, graphdef, *rest, copy=copy, recreate_variables=recreate_variables)
    if state is None:
        raise TypeError(
            message(
                "nnx.merge got a GraphDef and no State.",
                fix="graphdef, state = nnx.split(model); nnx.merge(graphdef, state)",
            )
        )
    if not isinstance(graphdef, GraphDef):
        raise TypeError(
            message(
                f"nnx.merge expected a GraphDef first, got {describe(graphdef)}.",
                fix="graphdef, state = nnx.split(model); nnx.merge(graphdef, state)",
            )
        )
    if len(graphdef.edges) == 1 and graphdef.edges[0][0] == "var":
        return merge_variable(graphdef, (state, *states), copy, recreate_variables)
    flat: dict[Path, Any] = {}
    for part in (state, *states):
        flat.update(flat_state_of(part, "nnx.merge"))
    paths = graphdef.leaf_paths()
    missing = [path for path in paths if path not in flat]
    extra = set(flat).difference(paths)
    if missing or extra:
        problems = [f"{format_path(p, 'state')}: missing" for p in missing]
        problems += [
            f"{format_path(p, 'state')}: {describe(_value(flat[p]))} is not in the GraphDef"
            for p in flat
            if p in extra
        ]
        raise StateMismatchError(
            message(
                "nnx.merge: the States do not fit the GraphDef.",
                problems,
                expected="exactly the paths split() produced for this GraphDef",
                fix="pass every State that split returned: nnx.merge(graphdef, *states)",
            )
        )
    leaves = [flat[path] for path in paths]
    if copy:
        leaves = [leaf.replace() if isinstance(leaf, Variable) else leaf for leaf in leaves]
    roots, _ = unflatten(graphdef, leaves, recreate_variables=recreate_variables)
    return roots[0]


def _value(leaf: Any) -> Any:
    return leaf.value if isinstance(leaf, VariableState) else leaf


def update(node: Any, state: State, /, *states: State) -> None:
    """Write the values of ``states`` into the existing graph ``node``, in place.

    Every path in the States must exist in the graph; nothing is written unless all do.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.zeros(2))
    >>> model = Model()
    >>> _, s = split(model)
    >>> s['w'] = s['w'].replace(jnp.ones(2))
    >>> update(model, s)
    >>> model.w.value.tolist()
    [1.0, 1.0]
    """
    if isinstance(node, Variable):
        update_variable(node, (state, *states))
        return
    updates: dict[Path, Any] = {}
    for part in (state, *states):
        updates.update(flat_state_of(part, "nnx.update"))
    flat = flatten((node,))
    homes = dict(zip(flat.paths, flat.slots, strict=True))
    unknown = [path for path in updates if path not in homes]
    if unknown:
        raise StateMismatchError(
            message(
                "nnx.update: the State has paths that are not in the graph.",
                [f"{format_path(p, 'state')}: {describe(_value(updates[p]))}" for p in unknown],
                expected=f"paths among: {', '.join(format_path(p, 'model') for p in homes)}",
                fix="update with a State split from this graph (or one shaped like it)",
            )
        )
    targets = [(homes[path], leaf) for path, leaf in updates.items()]
    immutable = []
    for path, (home, _) in zip(updates, targets, strict=True):  # validate before writing
        if isinstance(home, Variable):
            home.check_trace()
        elif isinstance(home[0], Object):
            home[0].check_trace(str(home[1]))
        elif type(home[0]) is not list and type(home[0]) is not dict:
            immutable.append(
                f"{format_path(path, 'model')}: {describe(_value(updates[path]))} "
                f"(in a {type(home[0]).__name__})"
            )
    if immutable:
        raise StateMismatchError(
            message(
                "nnx.update cannot write bare arrays held in immutable containers.",
                immutable,
                expected="bare arrays only in Object attributes, lists or dicts",
                fix="hold the array in a Variable (`nnx.Variable(x)`) or a list instead",
            )
        )
    for home, leaf in targets:
        if isinstance(home, Variable):
            if isinstance(leaf, VariableState):
                home.update_from_state(leaf)
            else:
                home.value = leaf
        else:
            holder, key = home
            value = _value(leaf)
            if isinstance(holder, Object):
                holder.__dict__[key] = value
            else:
                holder[key] = value


def state(node: Any, *filters: Filter, graph: bool | None = None) -> Any:
    """The State of ``node`` (one State per filter when filters are given).

    Unlike ``split``, the filters need not cover everything.
    """
    _check_mode(node, graph, "nnx.state")
    flat = flatten((node,))
    states = _states_of(flat, "nnx.state")
    if not filters:
        return State.from_flat_path(states)
    parts = partition(states, filters, op="nnx.state", root=root_name(node), drop_rest=True)
    result = tuple(State.from_flat_path(part) for part in parts)
    return result[0] if len(result) == 1 else result


def graphdef(node: Any, /, *, graph: bool | None = None) -> GraphDef:
    """The GraphDef of ``node``."""
    _check_mode(node, graph, "nnx.graphdef")
    return flatten((node,)).graphdef


def clone(
    node: Any, variables: bool = True, *, arrays: bool = False, graph: bool | None = None
) -> Any:
    """A copy of the graph that keeps its internal sharing.

    ``variables=False`` copies only the objects and shares the Variables (a view);
    ``arrays=True`` also copies the arrays the Variables hold (as flax 0.12; by default
    the copy's Variables hold the same immutable jax arrays).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> box = Box()
    >>> clone(box).w is box.w, clone(box, variables=False).w is box.w
    (False, True)
    """
    _check_mode(node, graph, "nnx.clone")
    copied = merge(*split(node), copy=variables)
    if arrays:
        for _, leaf in iter_graph(copied):
            if isinstance(leaf, Variable) and isinstance(leaf.raw_value, jax.Array):
                leaf.set_value(jnp.array(leaf.raw_value, copy=True))
    return copied


def pop(node: Any, *filters: Filter) -> Any:
    """Remove the Variables matching ``filters`` from the graph and return their States.

    Typical use: collect ``Intermediate`` values a forward pass sowed.
    """
    if not filters:
        raise TypeError("nnx.pop needs at least one filter, e.g. nnx.pop(model, nnx.Intermediate)")
    predicates = [to_predicate(f) for f in filters]
    found: list[dict[Path, Any]] = [{} for _ in predicates]
    removals: list[tuple[Any, Any]] = []
    for path, value in iter_graph(node):
        if not isinstance(value, Variable) or not path:
            continue
        for predicate, part in zip(predicates, found, strict=True):
            if predicate(path, value):
                part[path] = value.to_state()
                removals.append((path, value))
                break
    homes = _variable_homes(node)
    for path, variable in removals:  # validate every removal before removing any
        for holder, key in homes[id(variable)]:
            if isinstance(holder, Object):
                holder.check_trace(str(key))
            elif type(holder) is not dict:
                raise TypeError(
                    message(
                        f"nnx.pop cannot remove {format_path(path)}: it sits in a "
                        f"{type(holder).__name__}.",
                        expected="Variables to pop held in Object attributes or dicts",
                        fix="hold popped Variables in attributes or dicts",
                    )
                )
    for _, variable in removals:
        # A shared Variable is removed from every place that holds it, not only from the
        # path its State is recorded under, so no copy of it stays behind in the graph.
        for holder, key in homes[id(variable)]:
            if isinstance(holder, Object):
                delattr(holder, key)
            else:
                del holder[key]
    result = tuple(State.from_flat_path(part) for part in found)
    return result[0] if len(result) == 1 else result


def _variable_homes(node: Any) -> dict[int, list[tuple[Any, Any]]]:
    homes: dict[int, list[tuple[Any, Any]]] = {}
    for _, value in iter_graph(node):
        children: Any = ()
        if isinstance(value, Object):
            children = vars(value).items()
        elif type(value) is dict or type(value) is list or type(value) is tuple:
            children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(child, Variable):
                homes.setdefault(id(child), []).append((value, key))
    return homes


def iter_graph(node: Any, /, *, graph: bool | None = None) -> Iterator[tuple[Path, Any]]:
    """Every node and leaf of the graph with its path, each once, children before parents.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> [path for path, _ in iter_graph(Model())]
    [('w',), ()]
    """
    _check_mode(node, graph, "nnx.iter_graph")
    yield from _iter(node, (), set())


def _check_mode(node: Any, graph: bool | None, op: str) -> None:
    # Tree mode is graph mode plus this check (see ``_modes``): the values are the same.
    if not resolve_graph(graph):
        check_tree([node], ["model"], op)


def _iter(value: Any, path: Path, seen: set[int]) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, Object | Variable | list | dict):
        if id(value) in seen:
            return
        seen.add(id(value))
    if isinstance(value, Object):
        attrs = vars(value)
        for key in sorted_keys(attrs):
            yield from _iter(attrs[key], (*path, key), seen)
    elif isinstance(value, dict):
        for key in list(value):
            yield from _iter(value[key], (*path, key), seen)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _iter(item, (*path, i), seen)
    yield path, value


def set_metadata(node: Any, /, *, only: Filter = Variable, **metadata: Any) -> None:
    """Set ``metadata`` on every Variable of ``node`` that ``only`` selects, in place.

    Every selected Variable is checked before any is changed, so a failure (a Variable
    that belongs to another trace) leaves the graph as it was.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> model = Model()
    >>> set_metadata(model, frozen=True)
    >>> model.w.frozen
    True
    """
    predicate = to_predicate(only)
    selected = [
        (path, leaf)
        for path, leaf in iter_graph(node)
        if isinstance(leaf, Variable) and predicate(path, leaf)
    ]
    for path, variable in selected:
        try:
            variable.check_trace()
        except TraceContextError as error:
            raise TraceContextError(
                f"nnx.set_metadata: cannot change {format_path(path, 'model')}.\n{error}",
                target=variable,
            ) from error
    for _, variable in selected:
        variable.set_metadata(**metadata)
