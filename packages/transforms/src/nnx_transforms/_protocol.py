"""The call protocol every object-aware transform shares.

Outside the transform (``lift``), the arguments are flattened as a pytree in which
Objects and Variables are leaves; those objects are then flattened *jointly* into one
GraphDef, so sharing between arguments (an Optimizer holding the model) survives.
JAX sees only arrays: the GraphDef rides along as static data.

Inside (``enter``), fresh copies of the objects are built from the leaves and put back
in the arguments; the user function runs on them and may mutate them freely. On the way
out (``leave``), the copies and any objects the function returned are flattened again,
with each copy keeping its input index, so the result says which outputs are the input
objects and which are new. The copies are then poisoned, so a reference that escaped
fails loudly instead of holding tracers.

Back outside (``apply``), if the inputs' structure did not change, the new leaf values
are written straight into the caller's Variables; otherwise the caller's objects are
reconciled in place with the new GraphDef. Nothing is written before the transform has
returned, so a call that raises leaves the caller's objects as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from nnx_graph import (
    EscapedValue,
    FlatGraph,
    GraphDef,
    Object,
    TraceContextError,
    Variable,
    bump_epoch,
    current_trace_ref,
    describe,
    flatten,
    format_path,
    mark_escaped,
    message,
    node_trace_ref,
    read_slot,
)
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._captured import explain
from nnx_transforms._escaped import escaped_error, origin_of
from nnx_transforms._labels import label_positions, parameter_names

GRAPH_TYPES = (Object, Variable)


def is_graph_node(x: Any) -> bool:
    """Objects and Variables are leaves of an argument pytree and nodes of the graph."""
    return isinstance(x, GRAPH_TYPES)


def is_variable(x: Any) -> bool:
    """The ``is_leaf`` that keeps Variables whole when flattening arguments."""
    return isinstance(x, Variable)


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """``jax.tree_util.tree_flatten`` keeping Objects and Variables whole (pytrees too)."""
    return jax.tree_util.tree_flatten(tree, is_leaf=is_graph_node)


def tree_leaves(tree: Any) -> list[Any]:
    """``jax.tree_util.tree_leaves`` keeping Objects and Variables whole."""
    return jax.tree_util.tree_leaves(tree, is_leaf=is_graph_node)


def argument_owners(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """For each leaf of ``(args, kwargs)``, the argument it belongs to (index or name)."""
    owners: list[Any] = []
    for i, arg in enumerate(args):
        owners.extend([i] * len(tree_leaves(arg)))
    for name in sorted(kwargs):  # a dict flattens in sorted key order
        owners.extend([name] * len(tree_leaves(kwargs[name])))
    return owners


class InputSpec:
    """Static description of a call's inputs: hashable, it keys JAX's caches.

    Attributes:
      graphdef: the joint GraphDef of every object among the arguments.
      treedef: the arguments' pytree structure, objects as leaves.
      object_positions: where the objects sit among the argument leaves.
      statics: the values of static arguments, ``((position, value), ...)``.
    """

    __slots__ = ("_hash", "graphdef", "n_leaves", "object_positions", "statics", "treedef")

    def __init__(
        self,
        graphdef: GraphDef,
        treedef: Any,
        object_positions: tuple[int, ...],
        statics: tuple[tuple[Any, Any], ...] = (),
    ) -> None:
        self.graphdef = graphdef
        self.treedef = treedef
        self.object_positions = object_positions
        self.statics = statics
        self.n_leaves = treedef.num_leaves
        self._hash = hash((graphdef, treedef, object_positions, statics))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return (
            isinstance(other, InputSpec)
            and self._hash == other._hash
            and self.graphdef == other.graphdef
            and self.treedef == other.treedef
            and self.object_positions == other.object_positions
            and self.statics == other.statics
        )


class Lifted:
    """The caller's side of one transformed call: its arguments, split once.

    ``roots`` are the call's objects when ``flat`` is a cached copy, whose nodes have
    holes where those objects go (``FlatGraph.nodes_with``); empty otherwise.
    """

    __slots__ = ("flat", "other_leaves", "roots", "spec")

    def __init__(
        self,
        spec: InputSpec,
        flat: FlatGraph,
        other_leaves: list[Any],
        roots: Sequence[Any] = (),
    ) -> None:
        self.spec = spec
        self.flat = flat
        self.other_leaves = other_leaves
        self.roots = roots

    def nodes(self) -> list[Any]:
        """Every node of the call's graph, by index (what ``apply`` reconciles)."""
        return self.flat.nodes_with(self.roots)


def lift(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    statics: tuple[tuple[Any, Any], ...] = (),
    root_names: Sequence[str] | None = None,
    watch: bool = False,
    fun: Callable[..., Any] | None = None,
    op: str | None = None,
) -> Lifted:
    """Split a call's arguments: objects jointly into a FlatGraph, the rest as leaves.

    ``watch``: the walk will be cached (see ``nnx_graph.flatten``). ``fun`` and ``op``
    (the function called and the transform's name) only word errors: objects are named
    by ``fun``'s parameter names. An object that escaped an earlier transform is refused
    here, by path, before JAX meets its poisoned values.
    """
    leaves, treedef = tree_flatten((args, kwargs))
    positions = tuple(i for i, leaf in enumerate(leaves) if isinstance(leaf, GRAPH_TYPES))
    roots = [leaves[i] for i in positions]
    names = root_names or _root_names(args, kwargs, leaves, positions, fun, statics)
    flat = flatten(roots, root_names=names, watch=watch)
    if EscapedValue in set(map(type, flat.leaves)):  # C speed: a set of a few types
        error = escaped_error(op, names, leaf_names(flat, names), flat.slots, flat.leaves)
        assert error is not None  # the set said one leaf is escaped
        raise error
    others = [leaf for leaf in leaves if not isinstance(leaf, GRAPH_TYPES)]
    return Lifted(InputSpec(flat.graphdef, treedef, positions, statics), flat, others)


def _root_names(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    leaves: list[Any],
    positions: tuple[int, ...],
    fun: Callable[..., Any] | None,
    statics: tuple[tuple[Any, Any], ...],
) -> list[str]:
    """Name each object root the way the user passed it, for error messages.

    A positional argument is named by ``fun``'s parameter (``block``), else ``args[i]``
    numbered as in the user's call (static arguments were taken out of ``args``).
    """
    taken = {key for key, _ in statics if isinstance(key, int)}
    numbers = [i for i in range(len(args) + len(taken)) if i not in taken]
    labels = label_positions(parameter_names(fun), numbers[: len(args)])
    names = {id(a): label for a, label in zip(args, labels, strict=True)}
    names.update({id(v): k for k, v in kwargs.items()})
    found = [names.get(id(leaves[p])) for p in positions]
    if all(name is not None for name in found):
        return [name for name in found if name is not None]
    # An object inside a container argument: name it by its pytree path (rare).
    keyed, _ = jax.tree_util.tree_flatten_with_path((args, kwargs), is_leaf=is_graph_node)
    result = []
    for p in positions:
        (where, first, *rest), _ = keyed[p]
        label = labels[first.idx] if where.idx == 0 else str(first.key)
        result.append(f"{label}{jax.tree_util.keystr(tuple(rest))}")
    return result


def leaf_names(flat: FlatGraph, names: Sequence[str]) -> list[str]:
    """For each leaf of ``flat``, its path from the root it belongs to, named ``names``."""
    single = len(names) == 1
    result = []
    root = 0
    for i, path in enumerate(flat.paths):
        while i >= flat.root_ends[root]:
            root += 1
        result.append(format_path(path if single else path[1:], names[root]))
    return result


class Entered:
    """The inside of one transformed call: the fresh copies and their indices."""

    __slots__ = ("args", "kwargs", "nodes", "roots", "spec")

    def __init__(
        self,
        spec: InputSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        roots: tuple[Any, ...],
        nodes: dict[int, Any],
    ) -> None:
        self.spec = spec
        self.args = args
        self.kwargs = kwargs
        self.roots = roots
        self.nodes = nodes


def enter(spec: InputSpec, graph_leaves: Sequence[Any], other_leaves: Sequence[Any]) -> Entered:
    """Build fresh copies of the input objects from leaves and rebuild the arguments."""
    roots, nodes = unflatten_graph(spec.graphdef, graph_leaves)
    leaves: list[Any] = [None] * spec.n_leaves
    for position, root in zip(spec.object_positions, roots, strict=True):
        leaves[position] = root
    others = iter(other_leaves)
    object_positions = set(spec.object_positions)
    for i in range(spec.n_leaves):
        if i not in object_positions:
            leaves[i] = next(others)
    args, kwargs = jax.tree_util.tree_unflatten(spec.treedef, leaves)
    return Entered(spec, args, kwargs, roots, nodes)


class OutputSpec:
    """Static result of one trace: what came out, and how to put it back.

    It is returned through JAX as a pytree with no leaves, so the caller receives it on
    every call (from JAX's cache) without re-tracing.

    Attributes:
      graphdef: the joint GraphDef of the input copies followed by the returned objects.
      n_inputs: how many of ``graphdef``'s roots are the input objects.
      inputs_unchanged: the inputs' structure is exactly as it came in.
      changed: when ``inputs_unchanged``, the indices of the input leaves whose value
        changed (only those are returned); otherwise None (all are returned).
      n_input_leaves: how many leaves belong to the input roots.
      out_treedef: the user result's pytree structure, objects as leaves.
      out_object_positions: where objects sit among the result's leaves.
      out_root_sizes: how many new leaves each returned object brought.
      out_statics: non-array result leaves, ``((position, value), ...)``.
    """

    __slots__ = (
        "changed",
        "graphdef",
        "inputs_unchanged",
        "n_input_leaves",
        "n_inputs",
        "out_object_positions",
        "out_root_sizes",
        "out_statics",
        "out_treedef",
        "simple",
    )

    def __init__(
        self,
        *,
        changed: tuple[int, ...] | None,
        graphdef: GraphDef,
        inputs_unchanged: bool,
        n_input_leaves: int,
        n_inputs: int,
        out_object_positions: tuple[int, ...],
        out_root_sizes: tuple[int, ...],
        out_statics: tuple[tuple[int, Any], ...],
        out_treedef: Any,
    ) -> None:
        self.changed = changed
        self.graphdef = graphdef
        self.inputs_unchanged = inputs_unchanged
        self.n_input_leaves = n_input_leaves
        self.n_inputs = n_inputs
        self.out_object_positions = out_object_positions
        self.out_root_sizes = out_root_sizes
        self.out_statics = out_statics
        self.out_treedef = out_treedef
        # The steady state of a training step: values changed, nothing else did.
        self.simple = inputs_unchanged and not out_object_positions and not out_statics

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name != "simple")

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, OutputSpec) and self._key() == other._key())


jax.tree_util.register_pytree_node(OutputSpec, lambda s: ((), s), lambda s, _: s)

_DYNAMIC_SCALARS = (int, float, complex, bool)


class Walked:
    """The copies and the result flattened jointly, before anything is poisoned.

    ``flat``'s roots are the input copies, then the returned objects (at
    ``object_positions`` among ``out_leaves``); a transform that must inspect them
    (vmap's axes) reads them here and hands this to ``leave``.
    """

    __slots__ = ("flat", "object_positions", "out_leaves", "out_treedef")

    def __init__(
        self, flat: FlatGraph, out_leaves: list[Any], out_treedef: Any, positions: tuple[int, ...]
    ) -> None:
        self.flat = flat
        self.out_leaves = out_leaves
        self.out_treedef = out_treedef
        self.object_positions = positions


def walk_result(entered: Entered, out: Any) -> Walked:
    """Flatten the input copies (keeping their indices) and the objects ``out`` holds."""
    out_leaves, out_treedef = tree_flatten(out)
    object_positions = tuple(i for i, x in enumerate(out_leaves) if isinstance(x, GRAPH_TYPES))
    ref_index = {id(node): index for index, node in entered.nodes.items()}
    roots = (*entered.roots, *(out_leaves[i] for i in object_positions))
    flat = flatten(roots, ref_index=ref_index, first_new_index=len(ref_index))
    return Walked(flat, out_leaves, out_treedef, object_positions)


def leave(
    entered: Entered,
    out: Any,
    input_leaves: Sequence[Any],
    *,
    changed_only: bool,
    walked: Walked | None = None,
    origin: str = "",
) -> tuple[OutputSpec, list[Any], list[Any], list[Any]]:
    """Flatten the copies and the result after the user function returned.

    Returns the OutputSpec, the input objects' leaves (only the changed ones when
    ``changed_only`` and the structure held), the returned objects' new leaves, and the
    result's dynamic (array) leaves. ``walked``: ``walk_result(entered, out)``, if the
    caller already has it. ``origin``: where the poisoned copies say they were built.
    """
    if walked is None:
        walked = walk_result(entered, out)
    flat, out_leaves = walked.flat, walked.out_leaves
    out_treedef, object_positions = walked.out_treedef, walked.object_positions
    n_inputs = len(entered.roots)
    n_input_leaves = flat.root_ends[n_inputs - 1] if n_inputs else 0
    unchanged = flat.graphdef.edges[:n_inputs] == entered.spec.graphdef.edges
    in_leaves = flat.leaves[:n_input_leaves]
    changed: tuple[int, ...] | None = None
    if unchanged and changed_only:
        # A leaf that is not an array (a Variable holding a dict, a KV cache) may have
        # been edited in place: the same object, new contents. It always goes back.
        changed = tuple(
            i
            for i, (new, old) in enumerate(zip(in_leaves, input_leaves, strict=True))
            if new is not old or not isinstance(new, jax.Array)
        )
        in_leaves = [in_leaves[i] for i in changed]
    dynamic, statics = [], []
    for i, leaf in enumerate(out_leaves):
        if isinstance(leaf, GRAPH_TYPES):
            continue
        if isinstance(leaf, (jax.Array, *_DYNAMIC_SCALARS)) or hasattr(leaf, "__jax_array__"):
            dynamic.append(leaf)
        else:
            statics.append((i, leaf))
    mark_escaped([*entered.nodes.values(), *_built_here(flat.nodes)], origin)
    spec = OutputSpec(
        changed=changed,
        graphdef=flat.graphdef,
        inputs_unchanged=unchanged,
        n_input_leaves=n_input_leaves,
        n_inputs=n_inputs,
        out_object_positions=object_positions,
        out_root_sizes=_root_sizes(flat.root_ends)[n_inputs:],
        out_statics=tuple(statics),
        out_treedef=out_treedef,
    )
    return spec, in_leaves, flat.leaves[n_input_leaves:], dynamic


def _built_here(nodes: Sequence[Any]) -> list[Any]:
    """The nodes not captured from outside this trace: only those may be poisoned.

    A returned object the function captured (``lambda x: model``) belongs to the caller;
    poisoning it would break the caller's model. The transform refuses it or hands back
    a copy (see ``check_captured``).
    """
    here = current_trace_ref()
    return [n for n in nodes if (ref := node_trace_ref(n)) is None or ref is here]


def _root_sizes(ends: Sequence[int]) -> tuple[int, ...]:
    starts = [0, *ends[:-1]] if ends else []
    return tuple(end - start for start, end in zip(starts, ends, strict=True))


def apply(
    lifted_flat: FlatGraph,
    spec: OutputSpec,
    in_leaves: Sequence[Any],
    new_leaves: Sequence[Any],
    dynamic: Sequence[Any],
    nodes: Sequence[Any] | None = None,
) -> Any:
    """Write a transform's results into the caller's objects and rebuild its return value.

    ``nodes`` are the caller's graph nodes by index (``Lifted.nodes()``; by default
    ``lifted_flat.nodes``). Nothing is written unless every object written belongs to
    the trace running now (see ``check_writable``).
    """
    existing = lifted_flat.nodes if nodes is None else nodes
    # Nothing to write (a step that only reads) needs no writable slots.
    if spec.inputs_unchanged and (lifted_flat.writable or spec.changed == ()):
        if spec.changed is None:
            check_writable(lifted_flat, None)
            lifted_flat.write_leaves(in_leaves)
        elif spec.changed:
            check_writable(lifted_flat, spec.changed)
            lifted_flat.write_some(spec.changed, in_leaves)
        if spec.out_object_positions:
            out_graphdef = GraphDef(spec.graphdef.edges[spec.n_inputs :])
            out_roots, _ = unflatten_graph(out_graphdef, new_leaves, existing=existing)
        else:
            out_roots = ()
    else:
        check_writable(lifted_flat, None, existing)
        all_leaves = _full_input_leaves(lifted_flat, spec, in_leaves)
        leaves = [*all_leaves, *new_leaves]
        try:
            roots, _ = unflatten_graph(spec.graphdef, leaves, existing=existing)
        except BaseException:
            # Reconciling is idempotent: an interrupt part-way is finished before it
            # propagates, so the objects are never left half-updated.
            roots, _ = unflatten_graph(spec.graphdef, leaves, existing=existing)
            raise
        finally:
            bump_epoch()  # the caller's objects may have changed structure
        out_roots = roots[spec.n_inputs :]
    return rebuild_output(spec, out_roots, dynamic)


def check_writable(
    flat: FlatGraph, indices: Sequence[int] | None, nodes: Sequence[Any] = ()
) -> None:
    """Refuse to write into objects that belong to another JAX trace.

    An nnx transform called inside ``jax.jit``, ``jax.grad``, ``lax.fori_loop``, ... on
    a model captured from outside would write that trace's tracers into the model, which
    then fails far away with an UnexpectedTracerError. The usual case costs one identity
    comparison: every node of the walk belongs to the trace running now.
    """
    here = current_trace_ref()
    if flat.trace_ref() is here:
        return
    wrong: list[str] = []
    for i in range(len(flat.slots)) if indices is None else indices:
        slot = flat.slots[i]
        owner = slot if isinstance(slot, Variable) else slot[0]
        ref = node_trace_ref(owner)
        if ref is not None and ref is not here:
            wrong.append(f"{_leaf_name(flat, flat.paths[i])}: {describe(read_slot(slot))}")
    if indices is None:
        for node in nodes:
            ref = node_trace_ref(node)
            if ref is not None and ref is not here and not isinstance(node, Variable):
                wrong.append(f"a {type(node).__name__} of the graph")
                break
    if wrong:
        raise TraceContextError(
            message(
                "An nnx transform cannot write its results into objects created outside "
                "the JAX transform it runs in (jax.jit, jax.grad, jax.vmap, lax.fori_loop, "
                "lax.scan, checkify, an outer nnx.jit over a closure, ...).",
                wrong,
                expected="objects updated by an inner nnx transform to be passed into the "
                "outer transform too",
                fix="pass the model through the outer transform: use nnx.jit / nnx.fori_loop "
                "/ nnx.scan with the model as an argument instead of capturing it",
            )
        )


def _leaf_name(flat: FlatGraph, path: Any) -> str:
    if len(flat.graphdef.edges) == 1:
        return format_path(path, "args[0]")
    return format_path(path[1:], f"args[{path[0]}]")


def _full_input_leaves(
    lifted_flat: FlatGraph, spec: OutputSpec, in_leaves: Sequence[Any]
) -> list[Any]:
    if spec.changed is None:
        return list(in_leaves)
    values = lifted_flat.read_leaves()
    for index, value in zip(spec.changed, in_leaves, strict=True):
        values[index] = value
    return values


def rebuild_output(spec: OutputSpec, out_roots: Sequence[Any], dynamic: Sequence[Any]) -> Any:
    """The user's return value, with objects and static leaves put back in place."""
    n = spec.out_treedef.num_leaves
    if not spec.out_object_positions and not spec.out_statics:
        return jax.tree_util.tree_unflatten(spec.out_treedef, dynamic)
    leaves: list[Any] = [None] * n
    for position, root in zip(spec.out_object_positions, out_roots, strict=True):
        leaves[position] = root
    for position, value in spec.out_statics:
        leaves[position] = value
    filled = set(spec.out_object_positions) | {p for p, _ in spec.out_statics}
    values = iter(dynamic)
    for i in range(n):
        if i not in filled:
            leaves[i] = next(values)
    return jax.tree_util.tree_unflatten(spec.out_treedef, leaves)


def call_pure(
    fun: Callable[..., Any],
    spec: InputSpec,
    graph_leaves: Sequence[Any],
    other_leaves: Sequence[Any],
    *,
    changed_only: bool = True,
    check: Callable[[Entered, Walked, Any], None] | None = None,
    op: str | None = None,
) -> tuple[OutputSpec, list[Any], list[Any], list[Any]]:
    """Run ``fun`` on fresh copies built from leaves; the pure function JAX transforms.

    ``check(entered, walked, out)``: a transform's own refusals of the result, run
    before anything is poisoned. ``op``: the transform's name, for the poison's message.
    """
    entered = enter(spec, graph_leaves, other_leaves)
    args, kwargs = entered.args, entered.kwargs
    for key, value in spec.statics:  # positions ascending, then names
        if isinstance(key, int):
            args = (*args[:key], value, *args[key:])
        else:
            kwargs = {**kwargs, key: value}
    try:
        out = fun(*args, **kwargs)
    except TraceContextError as error:
        clearer = explain(error, fun)
        if clearer is None:
            raise
        raise clearer from error
    walked = None
    if check is not None:
        walked = walk_result(entered, out)
        check(entered, walked, out)
    return leave(
        entered,
        out,
        graph_leaves,
        changed_only=changed_only,
        walked=walked,
        origin=origin_of(op, fun),
    )


def output_tree(spec: OutputSpec, new_leaves: Sequence[Any], dynamic: Sequence[Any]) -> Any:
    """The result in the user's structure, each returned object replaced by its leaves.

    vmap and scan hand this to JAX so that the user's ``out_axes`` prefix applies to it
    exactly as it would to the result itself.
    """
    leaves: list[Any] = [None] * spec.out_treedef.num_leaves
    start = 0
    for position, size in zip(spec.out_object_positions, spec.out_root_sizes, strict=True):
        leaves[position] = list(new_leaves[start : start + size])
        start += size
    static_positions = {p for p, _ in spec.out_statics}
    filled = set(spec.out_object_positions) | static_positions
    values = iter(dynamic)
    for i in range(len(leaves)):
        if i not in filled:
            leaves[i] = next(values)
    return jax.tree_util.tree_unflatten(spec.out_treedef, leaves)


def from_output_tree(spec: OutputSpec, tree: Any) -> tuple[list[Any], list[Any]]:
    """Inverse of ``output_tree``: the returned objects' leaves and the dynamic leaves."""
    parts = spec.out_treedef.flatten_up_to(tree)
    objects = set(spec.out_object_positions)
    statics = {p for p, _ in spec.out_statics}
    new_leaves = [leaf for p in spec.out_object_positions for leaf in parts[p]]
    dynamic = [part for p, part in enumerate(parts) if p not in objects and p not in statics]
    return new_leaves, dynamic


def lifted_call(
    transform: Callable[[Callable[..., Any]], Callable[..., Any]],
    f: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    statics: tuple[tuple[Any, Any], ...] = (),
    op: str | None = None,
) -> Any:
    """Run ``transform(pure)`` on a call's leaves and apply the result to its objects.

    The simplest use of the protocol, shared by transforms with no axes to manage
    (remat, and the branches of cond and switch build on it).
    """
    lifted = lift(args, kwargs, statics=statics, fun=f, op=op)

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
        return call_pure(f, lifted.spec, graph_leaves, other_leaves, changed_only=False, op=op)

    spec, in_leaves, new_leaves, dynamic = transform(pure)(
        lifted.flat.read_leaves(), lifted.other_leaves
    )
    return apply(lifted.flat, spec, in_leaves, new_leaves, dynamic)
