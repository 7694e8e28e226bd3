"""nnx.pmap: ``jax.pmap`` for functions whose arguments and results may be Objects.

The same contract as ``nnx.vmap`` (and the same machinery: ``in_axes`` / ``out_axes``
with ``StateAxes``, input objects' state coming back on the axis it went in on, objects
built inside coming out stacked), with the mapped axis spread over devices. The mapped
function is cached per input structure, so a repeated call neither re-traces nor
re-compiles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import jax

from nnx_graph import message
from nnx_transforms._axes import argument_axes, check_axis_values, leaf_axes
from nnx_transforms._graph_modes import Modes
from nnx_transforms._partition import partitioned
from nnx_transforms._protocol import apply, lift
from nnx_transforms._vmap import axis_values, mapped_call

OP = "nnx.pmap"


def _positions(argnums: int | Iterable[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(sorted(argnums))


def pmap(
    f: Callable[..., Any] | None = None,
    *,
    axis_name: Hashable | None = None,
    in_axes: Any = 0,
    out_axes: Any = 0,
    static_broadcasted_argnums: int | Iterable[int] = (),
    devices: Sequence[jax.Device] | None = None,
    backend: str | None = None,
    axis_size: int | None = None,
    donate_argnums: int | Iterable[int] = (),
    global_arg_shapes: Any = None,
    transform_metadata: Mapping[str, Any] | None = None,
    graph: bool | None = None,
    graph_updates: bool | None = None,
) -> Any:
    """``jax.pmap`` whose arguments and results may be Objects (``nnx.vmap``'s contract).

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self, key):
    ...         self.w = Param(jax.random.normal(key, ()))
    >>> n = jax.local_device_count()
    >>> make = pmap(Scale, in_axes=0, out_axes=0)
    >>> make(jax.random.split(jax.random.key(0), n)).w.value.shape == (n,)
    True
    """
    options: dict[str, Any] = dict(
        axis_name=axis_name,
        in_axes=in_axes,
        out_axes=out_axes,
        static_broadcasted_argnums=static_broadcasted_argnums,
        devices=devices,
        backend=backend,
        axis_size=axis_size,
        donate_argnums=donate_argnums,
        global_arg_shapes=global_arg_shapes,
        transform_metadata=transform_metadata,
        graph=graph,
        graph_updates=graph_updates,
    )
    if f is None:
        return functools.partial(pmap, **options)
    if _positions(donate_argnums):
        raise NotImplementedError(
            message(
                f"{OP}: donate_argnums is not supported (objects' buffers are shared with "
                "the caller's Variables).",
                fix="drop donate_argnums, or use nnx.jit(..., donate_argnums=...)",
            )
        )
    check_axis_values([out_axes], OP)
    modes = Modes(graph, graph_updates, OP)
    fun = modes.function(partitioned(f, transform_metadata, in_axes, out_axes, OP))
    static_positions = _positions(static_broadcasted_argnums)
    cache: dict[Any, Callable[..., Any]] = {}

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        statics = tuple((i, args[i]) for i in static_positions)
        dynamic = tuple(a for i, a in enumerate(args) if i not in static_positions)
        axes = in_axes
        if isinstance(axes, tuple | list) and statics and len(axes) == len(args):
            axes = tuple(a for i, a in enumerate(axes) if i not in static_positions)
        lifted = lift(dynamic, kwargs, statics=statics, fun=f, op=OP)
        graph_axes, other_axes = leaf_axes(lifted, dynamic, kwargs, axes, OP)
        check_axis_values([*graph_axes, *other_axes], OP)
        key = (lifted.spec, tuple(graph_axes), tuple(other_axes))
        mapped = cache.get(key)
        if mapped is None:
            per_leaf = argument_axes(dynamic, kwargs, axes, OP)
            root_specs = [per_leaf[p] for p in lifted.spec.object_positions]
            root_names = [f"args[{p}]" for p in range(len(root_specs))]
            values = axis_values([*root_specs, out_axes])
            with_statics = _with_statics(fun, statics)
            pure, _ = mapped_call(
                with_statics, lifted, graph_axes, root_specs, root_names, out_axes, values
            )
            mapped = jax.pmap(
                lambda g, o: pure(list(g), list(o)),
                axis_name=axis_name,
                in_axes=(tuple(graph_axes), tuple(other_axes)),
                out_axes=(None, None, values),
                devices=devices,
                backend=backend,
                axis_size=axis_size,
            )
            cache[key] = mapped
        out_spec, layout, groups = mapped(
            tuple(lifted.flat.read_leaves()), tuple(lifted.other_leaves)
        )
        its = [iter(group) for group in groups]
        results = [next(its[g]) for g in layout.groups]
        n_in = out_spec.n_input_leaves
        n_new = n_in + sum(out_spec.out_root_sizes)
        return apply(lifted.flat, out_spec, results[:n_in], results[n_in:n_new], results[n_new:])

    return modes.checked(wrapper)


def _with_statics(
    fun: Callable[..., Any], statics: tuple[tuple[int, Any], ...]
) -> Callable[..., Any]:
    if not statics:
        return fun

    @functools.wraps(fun)
    def inner(*args: Any, **kwargs: Any) -> Any:
        for position, value in statics:
            args = (*args[:position], value, *args[position:])
        return fun(*args, **kwargs)

    return inner
