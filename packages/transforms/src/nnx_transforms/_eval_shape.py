"""nnx.eval_shape: build or call objects abstractly, without allocating arrays.

Typical use: ``abstract = nnx.eval_shape(lambda: Model(rngs=nnx.Rngs(0)))`` gives a
Model whose Variables hold ``jax.ShapeDtypeStruct``s, for planning sharding or loading
a checkpoint into. The caller's objects are never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from nnx_graph import GraphDef, State, split
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._graph_modes import Modes
from nnx_transforms._protocol import call_pure, lift, rebuild_output
from nnx_variables import get_named_sharding


def eval_shape(
    f: Callable[..., Any],
    *args: Any,
    graph: bool | None = None,
    graph_updates: bool | None = None,
    **kwargs: Any,
) -> Any:
    """The result of ``f(*args, **kwargs)`` with shapes and dtypes in place of arrays.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.ones((1000, 1000)))
    >>> eval_shape(Model).w.value
    ShapeDtypeStruct(shape=(1000, 1000), dtype=float32)
    """
    modes = Modes(graph, graph_updates, "nnx.eval_shape")
    modes.check(args, kwargs)
    f = modes.function(f)
    lifted = lift(args, kwargs)

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> Any:
        return call_pure(f, lifted.spec, graph_leaves, other_leaves, changed_only=False)

    spec, _, new_leaves, dynamic = jax.eval_shape(
        pure, lifted.flat.read_leaves(), lifted.other_leaves
    )
    out_roots: tuple[Any, ...] = ()
    if spec.out_object_positions:
        out_graphdef = GraphDef(spec.graphdef.edges[spec.n_inputs :])
        out_roots, _ = unflatten_graph(out_graphdef, new_leaves, existing=lifted.flat.nodes)
    return rebuild_output(spec, out_roots, dynamic)


def get_abstract_model(
    init_fn: Callable[[], Any], mesh: jax.sharding.Mesh, *, graph: bool | None = None
) -> tuple[GraphDef, State]:
    """The GraphDef of ``init_fn()``'s model and its State as sharded shapes, on ``mesh``.

    Nothing is allocated: each leaf is a ``jax.ShapeDtypeStruct`` whose sharding comes
    from the Variable's sharding names on ``mesh`` (replicated where it names none), the
    form ``jax.jit``'s ``out_shardings`` and an orbax restore target take. ``init_fn``
    runs under ``jax.set_mesh(mesh)``, so eager sharding sees the mesh too.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.ones((4, 2)), out_sharding=('d', None))
    >>> mesh = jax.make_mesh((1,), ('d',), axis_types=(jax.sharding.AxisType.Auto,))
    >>> graphdef, abstract = get_abstract_model(Box, mesh)
    >>> abstract['w'].value.sharding.spec
    P('d', None)
    """
    with jax.set_mesh(mesh):
        model = eval_shape(init_fn, graph=graph)
        graphdef, state = split(model, graph=graph)
        shardings = get_named_sharding(state, mesh)
        sharded = jax.tree_util.tree_map(
            lambda shape, sharding: jax.ShapeDtypeStruct(  # type: ignore[no-untyped-call]
                shape.shape, shape.dtype, sharding=sharding
            ),
            state,
            shardings,
        )
    return graphdef, sharded
