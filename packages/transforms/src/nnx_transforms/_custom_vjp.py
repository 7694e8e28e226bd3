"""nnx.custom_vjp: ``jax.custom_vjp`` whose arguments may be Objects.

As in Flax NNX (graph mode), an Object argument's state is a primal input and its state
after the call is an extra output, so updates the function makes still reach the
caller. ``bwd`` therefore receives ``(res, (inputs_g, out_g))``: ``inputs_g`` holds, per
argument, a State of cotangents for each object (None for plain arguments), and ``bwd``
returns one tangent per differentiated argument, a State in place of each object.
``nondiff_argnums`` takes integers (plain arguments, passed to ``bwd`` first, as JAX
does) and ``DiffState(argnum, filter)``, which names the part of an object that has a
tangent; the rest of it is carried along undifferentiated.

Objects in ``fwd``'s residuals are split on the way out and rebuilt for ``bwd``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import jax
import numpy as np

from nnx_graph import (
    Filter,
    Object,
    State,
    Variable,
    describe,
    flatten,
    message,
    to_predicate,
)
from nnx_graph import state as state_of
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._grad import DiffState
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import (
    GRAPH_TYPES,
    OutputSpec,
    apply,
    argument_owners,
    call_pure,
    lift,
    rebuild_output,
    tree_flatten,
)

A = TypeVar("A")
OP = "nnx.custom_vjp"
_DYNAMIC = (jax.Array, np.ndarray, np.generic, int, float, complex, bool)


class _Static:
    """Static data carried through JAX as a pytree with no leaves (the residual's plan)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


jax.tree_util.register_pytree_node(_Static, lambda s: ((), s.value), lambda v, _: _Static(v))


class _Layout:
    """Which leaves of one call are differentiated, and by which argument they come."""

    def __init__(self, vjp: CustomVjp[Any], args: tuple[Any, ...]) -> None:
        n = len(args)
        ints, filters = _check_argnums(vjp.nondiff_argnums, args, n)
        self.args = args
        self.ints = ints
        self.lifted = lift(args, {}, fun=vjp.fun, op=OP)
        flat = self.lifted.flat
        owners = argument_owners(args, {})
        positions = self.lifted.spec.object_positions
        self.root_arg = [owners[p] for p in positions]
        self.single_root = len(positions) == 1
        starts = [0, *flat.root_ends[:-1]]
        self.root_of_leaf = [
            r
            for r, (s, e) in enumerate(zip(starts, flat.root_ends, strict=True))
            for _ in range(s, e)
        ]
        predicates = {a: to_predicate(f) for a, f in filters.items()}
        self.graph_diff: list[int] = []
        self.graph_rest: list[int] = []
        for i, (slot, leaf) in enumerate(zip(flat.slots, flat.leaves, strict=True)):
            arg = self.root_arg[self.root_of_leaf[i]]
            value = slot if isinstance(slot, Variable) else leaf
            keep = arg not in predicates or predicates[arg](self.relative(i), value)
            (self.graph_diff if keep else self.graph_rest).append(i)
        objects = set(positions)
        others = [o for i, o in enumerate(owners) if i not in objects]
        values = self.lifted.other_leaves
        self.other_diff = [
            i for i, o in enumerate(others) if o not in ints and isinstance(values[i], _DYNAMIC)
        ]
        self.other_rest = [
            i for i, o in enumerate(others) if o in ints and isinstance(values[i], _DYNAMIC)
        ]
        self.other_owners = others
        self.diff_args = [a for a in range(n) if a not in ints]

    def relative(self, i: int) -> Any:
        path = self.lifted.flat.paths[i]
        return path if self.single_root else path[1:]

    def graph_leaves(self, diff: Sequence[Any], rest: Sequence[Any]) -> list[Any]:
        leaves: list[Any] = [None] * len(self.lifted.flat.slots)
        for i, v in zip(self.graph_diff, diff, strict=True):
            leaves[i] = v
        for i, v in zip(self.graph_rest, rest, strict=True):
            leaves[i] = v
        return leaves

    def other_leaves(self, diff: Sequence[Any], rest: Sequence[Any]) -> list[Any]:
        leaves = list(self.lifted.other_leaves)  # statics stay, closed over
        for i, v in zip(self.other_diff, diff, strict=True):
            leaves[i] = v
        for i, v in zip(self.other_rest, rest, strict=True):
            leaves[i] = v
        return leaves


def _check_argnums(
    argnums: Sequence[int | DiffState], args: tuple[Any, ...], n: int
) -> tuple[set[int], dict[int, Filter]]:
    ints: set[int] = set()
    filters: dict[int, Filter] = {}
    problems = []
    for item in argnums:
        index = item.argnum if isinstance(item, DiffState) else item
        if not -n <= index < n:
            problems.append(f"{item!r}: the function was called with {n} argument(s)")
            continue
        index %= n
        if index in ints or index in filters:
            problems.append(f"{item!r}: argument {index} is named twice")
        elif isinstance(item, DiffState):
            filters[index] = item.filter
        elif any(isinstance(x, GRAPH_TYPES) for x in tree_flatten(args[index])[0]):
            problems.append(
                f"args[{index}]: {describe(args[index])} holds objects; an integer makes the "
                "whole argument static"
            )
        else:
            ints.add(index)
    if problems:
        raise ValueError(
            message(
                f"{OP}: nondiff_argnums does not fit the call.",
                problems,
                expected="in-range argument indices, each once; objects marked with DiffState",
                fix="nnx.custom_vjp(f, nondiff_argnums=(nnx.DiffState(0, nnx.Param),))",
            )
        )
    return ints, filters


class CustomVjp(Generic[A]):
    """The function ``nnx.custom_vjp`` returns; give it its rules with ``defvjp``."""

    def __init__(
        self,
        fun: Callable[..., A],
        nondiff_argnums: Sequence[int | DiffState],
        modes: Modes | None = None,
    ) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.modes = modes or Modes(None, None, OP)
        if not self.modes.updates and any(isinstance(a, DiffState) for a in nondiff_argnums):
            raise ValueError(
                message(
                    f"{OP}: DiffState in nondiff_argnums needs graph updates (it selects a "
                    "part of an object's state, which bwd then receives as a State).",
                    fix="nnx.custom_vjp(f, nondiff_argnums=(...), graph_updates=True)",
                )
            )
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None

    def defvjp(
        self, fwd: Callable[..., Any], bwd: Callable[..., Any], symbolic_zeros: bool = False
    ) -> None:
        """Set the forward rule (``out, res``) and the backward rule (tangents)."""
        if symbolic_zeros:
            raise NotImplementedError(f"{OP}: symbolic_zeros=True is not supported.")
        self.fwd = fwd
        self.bwd = bwd

    def __call__(self, *args: Any) -> A:
        if self.fwd is None or self.bwd is None:
            raise TypeError(
                message(
                    f"{OP}: {getattr(self.fun, '__name__', 'the function')} was called "
                    "before its rules were set.",
                    fix="f.defvjp(f_fwd, f_bwd)",
                )
            )
        self.modes.check(args, {})
        layout = _Layout(self, args)
        flat = layout.lifted.flat
        graph = flat.read_leaves()
        others = layout.lifted.other_leaves
        core = jax.custom_vjp(functools.partial(_primal, self, layout, None))
        core.defvjp(
            functools.partial(_forward, self, layout), functools.partial(_backward, self, layout)
        )
        dynamic, diff_out, rest_out, spec = core(
            [graph[i] for i in layout.graph_diff],
            [others[i] for i in layout.other_diff],
            [graph[i] for i in layout.graph_rest],
            [others[i] for i in layout.other_rest],
        )
        in_leaves = layout.graph_leaves(diff_out, rest_out)
        result: A = apply(flat, spec, in_leaves, [], dynamic)
        return result


def _primal(
    vjp: CustomVjp[Any], layout: _Layout, box: list[Any] | None, *inputs: list[Any]
) -> tuple[Any, ...]:
    """Run ``fun`` (or ``fwd``, keeping its residual in ``box``) on fresh copies."""
    dg, do, rg, ro = inputs
    fun = vjp.fun
    if box is not None:  # fwd: its residual leaves through the box, not the protocol
        fwd = vjp.fwd
        assert fwd is not None

        @functools.wraps(fwd)
        def fun(*args: Any) -> Any:
            out, res = fwd(*args)
            box.append(_split_residual(res))
            return out

    spec, in_leaves, _, dynamic = call_pure(
        vjp.modes.function(fun),
        layout.lifted.spec,
        layout.graph_leaves(dg, rg),
        layout.other_leaves(do, ro),
        changed_only=False,
        op=OP,
    )
    _check_result(spec)
    diff = [in_leaves[i] for i in layout.graph_diff]
    rest = [in_leaves[i] for i in layout.graph_rest]
    if box is not None:  # which differentiated Variables the call wrote (for updates_g)
        box.append(tuple(new is not old for new, old in zip(diff, dg, strict=True)))
    return dynamic, diff, rest, spec


def _check_result(spec: OutputSpec) -> None:
    if not spec.inputs_unchanged:
        raise ValueError(
            message(
                f"{OP}: the function changed its object arguments' structure (added, "
                "removed or replaced an attribute); a custom VJP needs the same state "
                "going out as coming in.",
                fix="set the attribute before the call, and only update Variable values inside",
            )
        )
    if spec.out_object_positions:
        raise TypeError(
            message(
                f"{OP}: the function returned an object; its output must be arrays.",
                fix="return nnx.state(obj) (or its arrays) instead of obj",
            )
        )


def _split_residual(res: Any) -> tuple[_Static, list[Any]]:
    """``fwd``'s residual as arrays, its objects flattened jointly (sharing kept)."""
    leaves, treedef = tree_flatten(res)
    positions = [i for i, x in enumerate(leaves) if isinstance(x, GRAPH_TYPES)]
    flat = flatten([leaves[i] for i in positions])
    dynamic_at = [i for i, x in enumerate(leaves) if i not in positions and isinstance(x, _DYNAMIC)]
    statics = {i: x for i, x in enumerate(leaves) if i not in positions and i not in dynamic_at}
    plan = (treedef, positions, flat.graphdef, dynamic_at, statics)
    return _Static(plan), [*flat.leaves, *(leaves[i] for i in dynamic_at)]


def _merge_residual(static: _Static, values: list[Any]) -> Any:
    treedef, positions, graphdef, dynamic_at, statics = static.value
    n_graph = len(values) - len(dynamic_at)
    roots, _ = unflatten_graph(graphdef, values[:n_graph]) if positions else ((), {})
    leaves: list[Any] = [None] * treedef.num_leaves
    for i, root in zip(positions, roots, strict=True):
        leaves[i] = root
    for i, v in zip(dynamic_at, values[n_graph:], strict=True):
        leaves[i] = v
    for i, v in statics.items():
        leaves[i] = v
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _forward(vjp: CustomVjp[Any], layout: _Layout, *inputs: list[Any]) -> Any:
    box: list[Any] = []
    out = _primal(vjp, layout, box, *inputs)
    (static, res_values), mutated = box
    return out, (_Static((out[3], mutated)), static, res_values, inputs[3])


def _backward(vjp: CustomVjp[Any], layout: _Layout, residual: Any, g: Any) -> Any:
    spec_box, static, res_values, ro = residual
    spec: OutputSpec = spec_box.value[0]
    g_dynamic, g_diff, _, _ = g
    out_g = rebuild_output(spec, (), g_dynamic)
    by_leaf = dict(zip(layout.graph_diff, g_diff, strict=True))
    nondiff = [_nondiff_arg(layout, a, ro) for a in sorted(layout.ints)]
    res = _merge_residual(static, res_values)
    assert vjp.bwd is not None
    if vjp.modes.updates:
        inputs_g = tuple(_inputs_g(layout, a, by_leaf) for a in layout.diff_args)
        tangents = vjp.bwd(*nondiff, res, (inputs_g, out_g))
    elif _takes_updates_g(vjp.bwd):
        mutated = dict(zip(layout.graph_diff, spec_box.value[1], strict=True))
        written = {i: g for i, g in by_leaf.items() if mutated[i]}
        updates_g = tuple(_updates_g(layout, a, written) for a in layout.diff_args)
        tangents = vjp.bwd(*nondiff, res, out_g, updates_g=updates_g)
    else:
        tangents = vjp.bwd(*nondiff, res, out_g)
    if not isinstance(tangents, tuple | list) or len(tangents) != len(layout.diff_args):
        raise TypeError(
            message(
                f"{OP}: bwd returned {describe(tangents)}; it must return a tuple with one "
                f"tangent per differentiated argument ({len(layout.diff_args)}).",
                fix="return (m_g,)  # a State in place of each object",
            )
        )
    dg_bar: dict[int, Any] = {}
    do_bar: dict[int, Any] = {}
    problems: list[str] = []
    for a, tangent in zip(layout.diff_args, tangents, strict=True):
        _read_tangent(layout, a, tangent, dg_bar, do_bar, problems)
    if problems:
        raise ValueError(
            message(
                f"{OP}: bwd's tangents do not fit the arguments.",
                problems,
                expected="the shape of inputs_g: a State with each differentiated Variable",
                fix="m_g = jax.tree.map(lambda x: x, m_updates_g)  # then set its values",
            )
        )
    graph_bar = [_cotangent(dg_bar.get(i)) for i in layout.graph_diff]
    other_bar = [_cotangent(do_bar.get(i)) for i in layout.other_diff]
    return graph_bar, other_bar, [None] * len(layout.graph_rest), [None] * len(ro)


def _cotangent(value: Any) -> Any:
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not jax.numpy.issubdtype(dtype, jax.numpy.inexact):
        return None  # integer state (RNG counts) has no tangent
    return value


def _arg_roots(layout: _Layout, a: int) -> list[int]:
    return [r for r, owner in enumerate(layout.root_arg) if owner == a]


def _inputs_g(layout: _Layout, a: int, by_leaf: dict[int, Any]) -> Any:
    """The cotangent of argument ``a``'s updated state: a State per object, else None."""
    roots = _arg_roots(layout, a)
    if not roots:
        return None
    flat = layout.lifted.flat
    states: list[Any] = []
    for r in roots:
        entries = {}
        for i, g in by_leaf.items():
            if layout.root_of_leaf[i] == r:
                slot = flat.slots[i]
                entries[layout.relative(i)] = slot.replace(g) if isinstance(slot, Variable) else g
        states.append(_bare_or_state(layout, r, entries))
    leaves, treedef = tree_flatten(layout.args[a])
    it = iter(states)
    return jax.tree_util.tree_unflatten(
        treedef, [next(it) if isinstance(x, GRAPH_TYPES) else None for x in leaves]
    )


def _bare_or_state(layout: _Layout, root: int, entries: dict[Any, Any]) -> Any:
    if layout.lifted.flat.graphdef.edges[root][0] == "var":
        return next(iter(entries.values()), None)  # a bare Variable's cotangent Variable
    return State.from_flat_path(entries)


def _nondiff_arg(layout: _Layout, a: int, ro: Sequence[Any]) -> Any:
    values = layout.other_leaves([None] * len(layout.other_diff), ro)
    leaves = [v for v, owner in zip(values, layout.other_owners, strict=True) if owner == a]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(layout.args[a]), leaves)


def _read_tangent(
    layout: _Layout,
    a: int,
    tangent: Any,
    dg_bar: dict[int, Any],
    do_bar: dict[int, Any],
    problems: list[str],
) -> None:
    """Spread argument ``a``'s tangent over its leaves, noting every misfit path."""
    arg = layout.args[a]
    leaves, treedef = tree_flatten(arg)
    try:
        parts = treedef.flatten_up_to(tangent)
    except (TypeError, ValueError):
        problems.append(f"args[{a}]: got {describe(tangent)}, shaped unlike the argument")
        return
    roots = iter(_arg_roots(layout, a))
    other_ids = iter(i for i, owner in enumerate(layout.other_owners) if owner == a)
    diff = set(layout.graph_diff)
    for leaf, part in zip(leaves, parts, strict=True):
        if not isinstance(leaf, GRAPH_TYPES):
            do_bar[next(other_ids)] = part
            continue
        r = next(roots)
        mine = [i for i in layout.graph_diff if layout.root_of_leaf[i] == r and i in diff]
        if layout.lifted.flat.graphdef.edges[r][0] == "var":
            if mine:
                dg_bar[mine[0]] = _value(part)
            continue
        flat_tangent = _flat_tangent(part)
        if flat_tangent is None:
            problems.append(f"args[{a}]: got {describe(part)} for an object; expected a State")
            continue
        wanted = {layout.relative(i): i for i in mine}
        for path, value in flat_tangent.items():
            if path in wanted:
                dg_bar[wanted.pop(path)] = _value(value)
            else:
                problems.append(f"args[{a}] at {path}: not a differentiated Variable")
        problems.extend(f"args[{a}] at {path}: missing from the tangent" for path in wanted)


def _takes_updates_g(bwd: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(bwd).parameters
    except (TypeError, ValueError):
        return False
    return "updates_g" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _updates_g(layout: _Layout, a: int, written: dict[int, Any]) -> Any:
    """Argument ``a`` with its objects copied, holding the written Variables' cotangents.

    The Variables the call did not write are set to None, as Flax's tree-mode
    ``updates_g`` has them.
    """
    roots = _arg_roots(layout, a)
    if not roots:
        return None
    flat = layout.lifted.flat
    graphdef = flat.graphdef
    copies, _ = unflatten_graph(
        graphdef, [written.get(i, leaf) for i, leaf in enumerate(flat.leaves)]
    )
    for i in range(len(flat.slots)):
        r = layout.root_of_leaf[i]
        if r in roots and i not in written and graphdef.edges[r][0] != "var":
            _set_path(copies[r], layout.relative(i), None)
    leaves, treedef = tree_flatten(layout.args[a])
    it = iter(copies[r] for r in roots)
    return jax.tree_util.tree_unflatten(
        treedef, [next(it) if isinstance(x, GRAPH_TYPES) else None for x in leaves]
    )


def _set_path(node: Any, path: Any, value: Any) -> None:
    for key in path[:-1]:
        node = getattr(node, key) if isinstance(node, Object) else node[key]
    if isinstance(node, Object):
        setattr(node, path[-1], value)
    else:
        node[path[-1]] = value


def _flat_tangent(part: Any) -> dict[Any, Any] | None:
    if isinstance(part, Object):
        flat: dict[Any, Any] = state_of(part).flat_dict()
        return flat
    if isinstance(part, State):
        return part.flat_dict()
    if isinstance(part, Mapping):
        return State(dict(part)).flat_dict()
    return None


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Variable) else x


def custom_vjp(
    fun: Callable[..., Any] | None = None,
    *,
    nondiff_argnums: Sequence[int | DiffState] = (),
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.custom_vjp`` whose arguments may be Objects; their updates reach the caller.

    With ``graph_updates=False`` (or ``graph=False``), as in Flax 0.12, ``bwd`` gets the
    output cotangent alone (``bwd(res, out_g)``), returns objects' tangents as objects
    (``nnx.clone(m)`` with gradient values) or States, and may take ``updates_g``: the
    arguments with each object copied, holding the cotangents of the Variables the call
    wrote and None in place of the others.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Foo(Module):
    ...     def __init__(self):
    ...         self.x = Param(jnp.array(1.0))
    >>> @custom_vjp
    ... def f(m):
    ...     return m.x * 3.0
    >>> def f_fwd(m):
    ...     return f(m), None
    >>> def f_bwd(res, g):
    ...     (m_updates_g,), out_g = g
    ...     m_g = jax.tree.map(lambda x: x, m_updates_g)
    ...     m_g['x'].value = out_g * 10.0
    ...     return (m_g,)
    >>> f.defvjp(f_fwd, f_bwd)
    >>> from nnx_transforms import grad
    >>> float(grad(f)(Foo())['x'].value)
    10.0
    """
    if fun is None:
        return functools.partial(
            custom_vjp, nondiff_argnums=nondiff_argnums, graph=graph, graph_updates=graph_updates
        )
    return CustomVjp(fun, nondiff_argnums, Modes(graph, graph_updates, OP))
