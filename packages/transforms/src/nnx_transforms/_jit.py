"""nnx.jit: jax.jit for functions that take and return Objects.

The jitted pure function receives the leaves of every object argument and returns the
leaves that changed, plus an OutputSpec telling the caller how to write them back (see
``_protocol``). The caller's side uses the fast path (``_fastpath``), so a steady-state
call costs reading and writing the leaf values, not re-flattening the graphs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar, overload

import jax

from nnx_graph import message
from nnx_transforms._fastpath import CallCache
from nnx_transforms._graph_modes import Modes
from nnx_transforms._jit_lower import Lowered, Traced
from nnx_transforms._jit_lower import eval_shape as jit_eval_shape
from nnx_transforms._jit_shardings import check_in_shardings, constrain_outputs, leaf_shardings
from nnx_transforms._jit_untraceable import untraceable_error
from nnx_transforms._labels import label_positions
from nnx_transforms._protocol import (
    Entered,
    InputSpec,
    Lifted,
    Walked,
    apply,
    argument_owners,
    call_pure,
    check_writable,
)
from nnx_transforms._vmap_checks import check_captured

F = TypeVar("F", bound=Callable[..., Any])


class CacheInfo(NamedTuple):
    """``JitWrapped.cache_info()``: calls served by the fast path, and calls that walked."""

    hits: int
    misses: int


def _as_tuple(value: int | str | Sequence[Any] | None) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, int | str):
        return (value,)
    return tuple(value)


class _Layout:
    """Which graph and argument leaves are donated: static, hashable, per input structure."""

    __slots__ = ("_hash", "donated_graph", "donated_other", "n_graph", "n_other")

    def __init__(
        self,
        n_graph: int,
        n_other: int,
        donated_graph: tuple[int, ...],
        donated_other: tuple[int, ...],
    ) -> None:
        self.n_graph, self.n_other = n_graph, n_other
        self.donated_graph, self.donated_other = donated_graph, donated_other
        self._hash = hash((n_graph, n_other, donated_graph, donated_other))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Layout) and (
            self.n_graph,
            self.n_other,
            self.donated_graph,
            self.donated_other,
        ) == (other.n_graph, other.n_other, other.donated_graph, other.donated_other)

    def split(self, values: list[Any], donated: tuple[int, ...]) -> tuple[list[Any], list[Any]]:
        chosen = set(donated)
        return [values[i] for i in donated], [v for i, v in enumerate(values) if i not in chosen]

    @staticmethod
    def join(
        n: int, donated: tuple[int, ...], given: Sequence[Any], kept: Sequence[Any]
    ) -> list[Any]:
        values: list[Any] = [None] * n
        chosen = set(donated)
        for i, value in zip(donated, given, strict=True):
            values[i] = value
        rest = iter(kept)
        for i in range(n):
            if i not in chosen:
                values[i] = next(rest)
        return values


class JitWrapped:
    """A function compiled with ``nnx.jit``; call it like the original."""

    def __init__(
        self,
        fun: Callable[..., Any],
        *,
        static_argnums: int | Sequence[int] | None = None,
        static_argnames: str | Sequence[str] | None = None,
        donate_argnums: int | Sequence[int] | None = None,
        donate_argnames: str | Sequence[str] | None = None,
        in_shardings: Any = None,
        out_shardings: Any = None,
        keep_unused: bool = False,
        device: Any = None,
        backend: str | None = None,
        inline: bool = False,
        graph: bool | None = None,
        graph_updates: bool | None = None,
    ) -> None:
        functools.update_wrapper(self, fun)
        self._modes = Modes(graph, graph_updates, "nnx.jit")
        self._trees: set[InputSpec] = set()  # input structures tree mode has checked
        fun = self._modes.function(fun)
        self.fun = fun
        self._signature = _signature(fun)
        self.static_argnums = _as_tuple(static_argnums)
        self.static_argnames = _as_tuple(static_argnames)
        names = self._signature or []
        self._static_positions = {
            i % len(names) if names and i < 0 else i for i in self.static_argnums
        } | {names.index(n) for n in self.static_argnames if n in names}
        self._static_names = set(self.static_argnames) | {
            names[i] for i in self._static_positions if i < len(names)
        }
        self.donate_argnums = _as_tuple(donate_argnums)
        self.donate_argnames = _as_tuple(donate_argnames)
        self._cache = CallCache()
        options: dict[str, Any] = {"keep_unused": keep_unused, "inline": inline}
        if device is not None:
            options["device"] = device
        if backend is not None:
            options["backend"] = backend
        # One Sharding lays out every array in or out, and jax.jit takes it as it is;
        # per-argument shardings depend on each call's leaves (see ``_jit_shardings``).
        self._in_shardings: tuple[Any, ...] | None = None
        if isinstance(in_shardings, jax.sharding.Sharding):
            options["in_shardings"] = in_shardings
        elif in_shardings is not None:
            self._in_shardings = check_in_shardings(in_shardings)
        if isinstance(out_shardings, jax.sharding.Sharding):
            options["out_shardings"] = out_shardings
        elif out_shardings is not None:
            self.fun = _constrained(fun, out_shardings)
        donating = bool(self.donate_argnums or self.donate_argnames)
        self._changed_only = not donating
        self._options: dict[str, Any] = {
            "static_argnums": (0, 1),
            "donate_argnums": (2, 4) if donating else (),
        }
        self._options.update(options)
        self._jitted = jax.jit(self._pure, **self._options)
        self._jitted_by_structure: dict[Any, Any] = {}

    def _pure(
        self,
        spec: InputSpec,
        layout: _Layout | None,
        donated_graph: list[Any],
        kept_graph: list[Any],
        donated_other: list[Any],
        kept_other: list[Any],
    ) -> Any:
        if layout is None:
            graph_leaves, other_leaves = kept_graph, kept_other
        else:
            graph_leaves = _Layout.join(
                layout.n_graph, layout.donated_graph, donated_graph, kept_graph
            )
            other_leaves = _Layout.join(
                layout.n_other, layout.donated_other, donated_other, kept_other
            )
        return call_pure(
            self.fun,
            spec,
            graph_leaves,
            other_leaves,
            changed_only=self._changed_only,
            check=self._check_result,
            op="nnx.jit",
        )

    def _check_result(self, entered: Entered, walked: Walked, out: Any) -> None:
        # Flax refuses a captured object under jit: its copy would be frozen at trace time.
        check_captured(self.fun, walked, list(entered.nodes.values()), out, op="nnx.jit")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs, statics = self._take_statics(args, kwargs)
        lifted = self._cache.lift(args, kwargs, statics, fun=self.fun, op="nnx.jit")
        if not self._modes.graph and lifted.spec not in self._trees:
            # Sharing is part of the structure, so one check per input structure will do.
            self._modes.check(args, kwargs)
            self._trees.add(lifted.spec)
        graph_values = lifted.flat.read_leaves()
        layout = self._layout(lifted, args, kwargs) if not self._changed_only else None
        jitted = (
            self._jitted
            if self._in_shardings is None
            else self._laid_out(self._in_shardings, lifted, layout, args, kwargs)
        )
        try:  # free until something raises (CPython 3.11+): the hit path pays nothing
            if layout is None:
                out = jitted(lifted.spec, None, [], graph_values, [], lifted.other_leaves)
            else:
                d_graph, k_graph = layout.split(graph_values, layout.donated_graph)
                d_other, k_other = layout.split(lifted.other_leaves, layout.donated_other)
                out = jitted(lifted.spec, layout, d_graph, k_graph, d_other, k_other)
        except TypeError as error:
            clearer = untraceable_error(self, lifted, args, kwargs, statics)
            if clearer is None:
                raise
            raise clearer from error
        return self._write_back(lifted, out)

    def _write_back(self, lifted: Lifted, out: Any) -> Any:
        """Write a call's results into the caller's objects; the user's return value."""
        spec, in_leaves, new_leaves, dynamic = out
        flat = lifted.flat
        # The common case: only values changed (and they can be written in place).
        if spec.simple and spec.changed is not None and (flat.writable or not spec.changed):
            if in_leaves:
                check_writable(flat, spec.changed)
                flat.write_some(spec.changed, in_leaves)
            return jax.tree_util.tree_unflatten(spec.out_treedef, dynamic)
        return apply(flat, spec, in_leaves, new_leaves, dynamic, lifted.nodes())

    def _laid_out(
        self,
        in_shardings: tuple[Any, ...],
        lifted: Lifted,
        layout: _Layout | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """The jax.jit of this call structure, its in_shardings given leaf by leaf."""
        key = (lifted.spec, layout)
        jitted = self._jitted_by_structure.get(key)
        if jitted is None:
            graph, other = leaf_shardings(in_shardings, lifted, args, kwargs)
            if layout is None:
                shardings: tuple[Any, ...] = ([], graph, [], other)
            else:
                shardings = (
                    *layout.split(graph, layout.donated_graph),
                    *layout.split(other, layout.donated_other),
                )
            jitted = jax.jit(self._pure, in_shardings=shardings, **self._options)
            self._jitted_by_structure[key] = jitted
        return jitted

    def _take_statics(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any], tuple[tuple[Any, Any], ...]]:
        """Pull static arguments out: they key the cache and are not traced."""
        if not self._static_positions and not self._static_names:
            return args, kwargs, ()
        positional = [
            (i, _check_static(a, label_positions(self._signature or (), [i])[0]))
            for i, a in enumerate(args)
            if i in self._static_positions
        ]
        kept = tuple(a for i, a in enumerate(args) if i not in self._static_positions)
        named = sorted(
            (k, _check_static(v, k)) for k, v in kwargs.items() if k in self._static_names
        )
        dynamic = {k: v for k, v in kwargs.items() if k not in self._static_names}
        return kept, dynamic, (*positional, *named)

    def _layout(self, lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Layout:
        leaf_args = argument_owners(args, kwargs)
        donated_args = set(self.donate_argnums) | set(self.donate_argnames)
        positions = lifted.spec.object_positions
        ends = lifted.flat.root_ends
        donated_graph: list[int] = []
        start = 0
        for root, end in enumerate(ends):
            if leaf_args[positions[root]] in donated_args:
                donated_graph.extend(range(start, end))
            start = end
        object_positions = set(positions)
        other_args = [a for i, a in enumerate(leaf_args) if i not in object_positions]
        donated_other = tuple(i for i, a in enumerate(other_args) if a in donated_args)
        return _Layout(len(lifted.flat.slots), len(other_args), tuple(donated_graph), donated_other)

    def cache_info(self) -> CacheInfo:
        """How many calls reused a cached walk of their arguments (hits) or walked them.

        A steady training loop shows one miss per object and call structure, then hits;
        misses that keep growing mean something edits the model's structure each step.
        """
        return CacheInfo(self._cache.hits, self._cache.misses)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Lower for the given arguments (``.compile()``, ``.as_text()`` as with jax.jit).

        ``.compile()`` of the result takes the same arguments as this function, objects
        included, and writes their new state back, as a call does.
        """
        args, kwargs, statics = self._take_statics(args, kwargs)
        lifted = self._cache.lift(args, kwargs, statics, fun=self.fun, op="nnx.jit")
        jitted = (
            self._jitted
            if self._in_shardings is None
            else self._laid_out(self._in_shardings, lifted, None, args, kwargs)
        )
        try:
            lowered = jitted.lower(
                lifted.spec, None, [], lifted.flat.read_leaves(), [], lifted.other_leaves
            )
        except TypeError as error:
            clearer = untraceable_error(self, lifted, args, kwargs, statics)
            if clearer is None:
                raise
            raise clearer from error
        return Lowered(lowered, self, lifted.spec)

    def trace(self, *args: Any, **kwargs: Any) -> Traced:
        """Trace for the given arguments: JAX's ``Traced`` (``.jaxpr``, ``.lower()``).

        ``.lower().compile()`` takes the same arguments as this function, objects
        included, as ``lower`` does.
        """
        args, kwargs, statics = self._take_statics(args, kwargs)
        lifted = self._cache.lift(args, kwargs, statics, fun=self.fun, op="nnx.jit")
        traced = self._jitted.trace(
            lifted.spec, None, [], lifted.flat.read_leaves(), [], lifted.other_leaves
        )
        return Traced(traced, self, lifted.spec)

    def eval_shape(self, *args: Any, **kwargs: Any) -> Any:
        """The result's shapes and dtypes, as ``nnx.eval_shape``; the objects are untouched."""
        return jit_eval_shape(self, args, kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)


def _signature(fun: Callable[..., Any]) -> list[str] | None:
    try:
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check_static(value: Any, name: str) -> Any:
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            message(
                f"nnx.jit: static argument {name} is not hashable ({type(value).__name__}).",
                expected="static arguments to be hashable (ints, strings, tuples, ...)",
                fix="pass a tuple instead of a list, or make the argument dynamic",
            )
        ) from None
    return value


def _constrained(fun: Callable[..., Any], out_shardings: Any) -> Callable[..., Any]:
    """``fun`` with its plain outputs laid out as ``out_shardings`` (a prefix of them) says."""

    @functools.wraps(fun)
    def constrained(*args: Any, **kwargs: Any) -> Any:
        return constrain_outputs(out_shardings, fun(*args, **kwargs))

    return constrained


@overload
def jit(fun: F, **options: Any) -> F: ...
@overload
def jit(fun: None = None, **options: Any) -> Callable[[F], F]: ...
def jit(fun: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``jax.jit`` for functions whose arguments and results may be Objects.

    Mutations the function makes to its object arguments (new BatchNorm statistics, RNG
    counts, updated parameters, attributes set) are visible after the call, and objects
    shared between arguments stay shared. Use bare (``@nnx.jit``) or with jax.jit's
    options (``@nnx.jit(static_argnums=1, donate_argnums=0)``).

    ``in_shardings`` is one Sharding for every array, or one entry per non-static
    positional argument: None (unspecified), a Sharding, a pytree prefix of a plain
    argument, or for an object a State of shardings (``nnx.get_named_sharding``).
    ``out_shardings`` is one Sharding, or a prefix of the function's array outputs.

    Calls with the same objects reuse the previous walk of their graphs (the fast path;
    ``cache_info()`` counts hits) and are never stale for edits made through Python:
    attribute assignment and deletion, list and dict operations, Variable values and
    metadata, ``nnx.update``, ``train()``/``eval()``. Edits that bypass attribute
    assignment (``object.__setattr__(m, ...)``, ``m.__dict__[k] = ...``,
    ``vars(m).update(...)``) are not supported: ``nnx.check_fast_path()`` (or
    ``NNX_CHECK_FAST_PATH=1``) verifies every hit and names them. Results are written
    back all at once after the call returns: a failed call, or one interrupted by
    KeyboardInterrupt, leaves the objects either as they were or fully updated. A
    model is not thread-safe: two threads training one model lose updates (the cache
    itself is safe to use from several threads).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Counter(Module):
    ...     def __init__(self):
    ...         self.count = Variable(jnp.array(0))
    >>> @jit
    ... def step(counter):
    ...     counter.count += 1
    >>> counter = Counter()
    >>> step(counter); step(counter)
    >>> int(counter.count.value)
    2
    """
    if fun is None:
        return lambda f: JitWrapped(f, **options)
    return JitWrapped(fun, **options)
