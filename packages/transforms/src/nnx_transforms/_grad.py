"""nnx.grad and nnx.value_and_grad: differentiate with respect to an object's state.

For an Object argument the derivative is taken with respect to the Variables a filter
selects (``nnx.Param`` by default, any filter with ``DiffState(argnum, filter)``), and
comes back as a State shaped like that part of the object. Without graph updates
(``graph=False`` or ``graph_updates=False``), as in Flax NNX 0.12, an Object argument is
differentiated as the pytree it is: every Variable and array in it, and the gradient is
a new object of the same class holding the gradients. A Variable passed as it is
(``grad(f)(w)``, ``grad(f)({'w': w, 'b': b})``) is differentiated whatever its kind, as
in Flax NNX 0.12: filters select inside Objects, and a bare Variable was asked for by
name; its gradient is a Variable of the same kind, in the argument's structure. The
rest of an object's state is carried through untouched by differentiation, so updates
the function makes to it (BatchNorm statistics, RNG counts) still reach the caller's
objects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax

from nnx_graph import (
    Filter,
    State,
    Variable,
    describe,
    format_path,
    graphdef,
    merge,
    message,
    to_predicate,
)
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import (
    GRAPH_TYPES,
    Lifted,
    apply,
    argument_owners,
    call_pure,
    lift,
    tree_flatten,
)
from nnx_variables import Param


class DiffState:
    """Differentiate argument ``argnum`` with respect to the state ``filter`` selects.

    >>> import nnx_variables
    >>> DiffState(0, nnx_variables.Param).argnum
    0
    """

    def __init__(self, argnum: int, filter: Filter) -> None:
        self.argnum = argnum
        self.filter = filter

    def __repr__(self) -> str:
        return f"DiffState({self.argnum}, {self.filter!r})"


def _normalize(
    argnums: int | DiffState | Sequence[int | DiffState], whole: bool
) -> list[DiffState]:
    """One DiffState per argument; a bare index selects Params, or everything if ``whole``."""
    items = argnums if isinstance(argnums, Sequence) else (argnums,)
    default = ... if whole else Param
    specs = [a if isinstance(a, DiffState) else _WholeObject(a, default) for a in items]
    seen = [s.argnum for s in specs]
    if len(set(seen)) != len(seen):
        raise ValueError(
            message(
                f"nnx.grad: argnums {seen} name an argument twice.",
                fix="give each argument once, e.g. argnums=(0, 1)",
            )
        )
    return specs


class _WholeObject(DiffState):
    """A bare argnum: without graph updates its objects' gradients are objects too."""


class _Partition:
    """Which leaves of one call are differentiated, grouped by argnum."""

    def __init__(
        self, lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any], specs: list[DiffState]
    ) -> None:
        n_args = len(args)
        for spec in specs:
            if not -n_args <= spec.argnum < n_args:
                raise ValueError(
                    message(
                        f"nnx.grad: argnums includes {spec.argnum}, but the function was "
                        f"called with {n_args} positional argument(s).",
                        expected=f"argnums within range({n_args})",
                        fix="pass the differentiated values positionally",
                    )
                )
        self.specs = specs
        owners = argument_owners(args, kwargs)
        positions = lifted.spec.object_positions
        object_positions = set(positions)
        self.root_arg = [owners[p] for p in positions]
        flat = lifted.flat
        self.single_root = len(positions) == 1
        starts = [0, *flat.root_ends[:-1]]
        root_of_leaf = [
            r
            for r, (s, e) in enumerate(zip(starts, flat.root_ends, strict=True))
            for _ in range(s, e)
        ]
        argnums = [s.argnum % n_args for s in specs]
        predicates = [to_predicate(s.filter) for s in specs]
        bare = [edge[0] == "var" for edge in flat.graphdef.edges]
        self.graph_groups: list[list[int]] = [[] for _ in specs]
        taken: set[int] = set()
        for i, (path, slot) in enumerate(zip(flat.paths, flat.slots, strict=True)):
            arg = self.root_arg[root_of_leaf[i]]
            if arg not in argnums:
                continue
            group = argnums.index(arg)
            relative = path if self.single_root else path[1:]
            value = slot if isinstance(slot, Variable) else flat.leaves[i]
            if bare[root_of_leaf[i]] or predicates[group](relative, value):
                self.graph_groups[group].append(i)
                taken.add(i)
        self.graph_rest = [i for i in range(len(flat.slots)) if i not in taken]
        other_owners = [o for i, o in enumerate(owners) if i not in object_positions]
        self.other_groups = [[i for i, o in enumerate(other_owners) if o == a] for a in argnums]
        other_taken = {i for group in self.other_groups for i in group}
        self.other_rest = [i for i in range(len(other_owners)) if i not in other_taken]
        self.argnums = argnums
        self.root_of_leaf = root_of_leaf

    def assemble(
        self,
        n: int,
        groups: Sequence[Sequence[int]],
        rest: Sequence[int],
        values: Any,
        rest_values: Any,
    ) -> list[Any]:
        leaves: list[Any] = [None] * n
        for indices, group_values in zip(groups, values, strict=True):
            for i, v in zip(indices, group_values, strict=True):
                leaves[i] = v
        for i, v in zip(rest, rest_values, strict=True):
            leaves[i] = v
        return leaves


def _make_grad(
    f: Callable[..., Any],
    argnums: int | DiffState | Sequence[int | DiffState],
    has_aux: bool,
    return_value: bool,
    holomorphic: bool,
    allow_int: bool,
    whole: bool,
) -> Callable[..., Any]:
    specs = _normalize(argnums, whole)
    single = not isinstance(argnums, Sequence)
    op = "nnx.value_and_grad" if return_value else "nnx.grad"

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lifted = lift(args, kwargs, fun=f, op=op)
        part = _Partition(lifted, args, kwargs, specs)
        flat = lifted.flat
        graph_values = flat.read_leaves()
        others = lifted.other_leaves

        def pure(diff: Any, graph_rest: list[Any], other_rest: list[Any]) -> Any:
            graph_diff, other_diff = diff
            graph_leaves = part.assemble(
                len(graph_values), part.graph_groups, part.graph_rest, graph_diff, graph_rest
            )
            other_leaves = part.assemble(
                len(others), part.other_groups, part.other_rest, other_diff, other_rest
            )
            box: list[Any] = []

            @functools.wraps(f)  # named as the user's function in errors
            def split_loss(*a: Any, **k: Any) -> Any:
                out = f(*a, **k)
                if has_aux:
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise TypeError(
                            message(
                                "nnx.grad(..., has_aux=True): the function must return a "
                                f"pair (loss, aux), got {type(out).__name__}.",
                                fix="return loss, aux",
                            )
                        )
                    box.append(out[0])
                    return out[1]
                box.append(out)
                return None

            result = call_pure(
                split_loss, lifted.spec, graph_leaves, other_leaves, changed_only=False, op=op
            )
            _check_scalar_loss(box[0], op, has_aux)
            return box[0], result

        diff = (
            [[graph_values[i] for i in g] for g in part.graph_groups],
            [[others[i] for i in g] for g in part.other_groups],
        )
        graph_rest = [graph_values[i] for i in part.graph_rest]
        other_rest = [others[i] for i in part.other_rest]
        transform = jax.value_and_grad(
            pure, argnums=0, has_aux=True, holomorphic=holomorphic, allow_int=allow_int
        )
        try:
            (value, result), (graph_grads, other_grads) = transform(diff, graph_rest, other_rest)
        except TypeError:
            if not allow_int:  # jax's error names no path: name the values it refused
                _check_differentiable(part, flat, graph_values, op)
            raise
        aux = apply(flat, *result)
        grads = tuple(
            _grads_of_argument(
                a, args[a], part, flat, g_idx, g_vals, o_vals, whole and type(spec) is _WholeObject
            )
            for a, spec, g_idx, g_vals, o_vals in zip(
                part.argnums, specs, part.graph_groups, graph_grads, other_grads, strict=True
            )
        )
        grads_out = grads[0] if single else grads
        value_out = (value, aux) if has_aux else value
        if return_value:
            return value_out, grads_out
        return (grads_out, aux) if has_aux else grads_out

    return wrapper


def refuse_reduce_axes(reduce_axes: Sequence[Hashable], op: str) -> None:
    """Raise for ``reduce_axes``, which JAX removed: taken so code that passes ``()`` runs."""
    if reduce_axes:
        raise NotImplementedError(
            message(
                f"{op}: reduce_axes={tuple(reduce_axes)!r} is no longer supported by JAX "
                "(as in Flax NNX 0.12, where it is deprecated).",
                fix="reduce the gradients yourself: jax.lax.psum(grads, axis_name)",
            )
        )


def _check_differentiable(part: _Partition, flat: Any, values: Sequence[Any], op: str) -> None:
    """Raise naming each selected value jax.grad would refuse (integer, bool, PRNG key).

    Called only once jax.grad has refused the call, so a call that works pays nothing.
    """
    problems = []
    for group, argnum in zip(part.graph_groups, part.argnums, strict=True):
        for i in group:
            dtype = getattr(values[i], "dtype", None)
            if dtype is not None and not jax.numpy.issubdtype(dtype, jax.numpy.inexact):
                path = flat.paths[i] if part.single_root else flat.paths[i][1:]
                problems.append(f"{format_path(path, f'args[{argnum}]')}: {describe(values[i])}")
    if problems:
        raise TypeError(
            message(
                f"{op}: only floating-point values can be differentiated, and the "
                "differentiated state holds other values.",
                problems,
                expected="float or complex arrays in the differentiated state",
                fix=f"{op}(f, argnums=nnx.DiffState(0, nnx.Param))  # or allow_int=True",
            )
        )


def _check_scalar_loss(loss: Any, op: str, has_aux: bool) -> None:
    """Raise unless the differentiated output is one scalar, saying how to make it one.

    jax.grad's own error gives the shape but no way out. It runs while tracing the loss,
    so a correct loss pays nothing for it on later calls under jit.
    """
    if isinstance(loss, tuple) and not has_aux:
        raise TypeError(
            message(
                f"{op}: the function returned a tuple of {len(loss)}, not a scalar loss.",
                expected="a scalar loss, or (loss, aux) with has_aux=True",
                fix=f"{op}(loss_fn, has_aux=True)  # when it returns (loss, aux)",
            )
        )
    shape = getattr(loss, "shape", None) if not isinstance(loss, int | float) else ()
    if shape == ():
        return
    if shape is None:
        raise TypeError(
            message(
                f"{op}: the function returned {describe(loss)}, not a scalar loss.",
                expected="a loss of shape (), computed with jax.numpy",
                fix="return jnp.mean((model(x) - y) ** 2)  # any scalar array",
            )
        )
    raise TypeError(
        message(
            f"{op}: the loss is {describe(loss)}; gradients need a scalar loss.",
            expected="a loss of shape () (reduce over the batch and outputs)",
            fix="return loss.mean() (or .sum()); for a Jacobian of a vector output, use "
            "jax.jacrev on nnx.split state",
        )
    )


def _grads_of_argument(
    argnum: int,
    arg: Any,
    part: _Partition,
    flat: Any,
    graph_indices: list[int],
    graph_grads: list[Any],
    other_grads: list[Any],
    as_objects: bool,
) -> Any:
    """Gradients shaped like the argument: a State (or, ``as_objects``, a copy) per object."""
    per_root: dict[int, dict[Any, Any]] = {}
    by_variable: dict[int, Any] = {}
    for i, g in zip(graph_indices, graph_grads, strict=True):
        root = part.root_of_leaf[i]
        path = flat.paths[i] if part.single_root else flat.paths[i][1:]
        slot = flat.slots[i]
        leaf = slot.replace(g) if isinstance(slot, Variable) else g  # a gradient Variable
        per_root.setdefault(root, {})[path] = leaf
        by_variable[id(slot)] = leaf
    leaves, treedef = tree_flatten(arg)
    result = []
    root_iter = iter(r for r, owner in enumerate(part.root_arg) if owner == argnum)
    other_iter = iter(other_grads)
    for leaf in leaves:
        if isinstance(leaf, Variable):
            next(root_iter)
            # Found by identity: a Variable passed twice has its leaf at its first place.
            found = by_variable.get(id(leaf))
            result.append(found if found is not None else leaf.replace(_zeros(leaf.value)))
        elif isinstance(leaf, GRAPH_TYPES):
            state = State.from_flat_path(per_root.get(next(root_iter), {}))
            result.append(merge(graphdef(leaf), state) if as_objects else state)
        else:
            result.append(next(other_iter))
    return jax.tree_util.tree_unflatten(treedef, result)


def _zeros(value: Any) -> Any:
    """The gradient of a value the loss cannot see (a Variable of another argument)."""
    return jax.tree_util.tree_map(lambda x: jax.numpy.zeros_like(x), value)


def grad(
    f: Callable[..., Any] | None = None,
    *,
    argnums: int | DiffState | Sequence[int | DiffState] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence[Hashable] = (),
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.grad`` whose arguments may be Objects; gradients of Objects are States.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(3.0))
    >>> grads = grad(lambda m: m.w ** 2)(Model())
    >>> float(grads['w'].value)
    6.0
    """
    if f is None:
        return functools.partial(
            grad,
            argnums=argnums,
            has_aux=has_aux,
            holomorphic=holomorphic,
            allow_int=allow_int,
            reduce_axes=reduce_axes,
            graph=graph,
            graph_updates=graph_updates,
        )
    refuse_reduce_axes(reduce_axes, "nnx.grad")
    modes = Modes(graph, graph_updates, "nnx.grad")
    return modes.checked(
        _make_grad(
            modes.function(f), argnums, has_aux, False, holomorphic, allow_int, not modes.updates
        )
    )


def value_and_grad(
    f: Callable[..., Any] | None = None,
    *,
    argnums: int | DiffState | Sequence[int | DiffState] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence[Hashable] = (),
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """Like ``grad``, returning ``(value, grads)`` (``((value, aux), grads)`` with aux).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(3.0))
    >>> loss, grads = value_and_grad(lambda m: m.w ** 2)(Model())
    >>> float(loss), float(grads['w'].value)
    (9.0, 6.0)
    """
    if f is None:
        return functools.partial(
            value_and_grad,
            argnums=argnums,
            has_aux=has_aux,
            holomorphic=holomorphic,
            allow_int=allow_int,
            reduce_axes=reduce_axes,
            graph=graph,
            graph_updates=graph_updates,
        )
    refuse_reduce_axes(reduce_axes, "nnx.value_and_grad")
    modes = Modes(graph, graph_updates, "nnx.value_and_grad")
    return modes.checked(
        _make_grad(
            modes.function(f), argnums, has_aux, True, holomorphic, allow_int, not modes.updates
        )
    )
