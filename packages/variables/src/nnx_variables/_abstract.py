"""nnx.as_abstract: give an abstract model's shapes the shardings its metadata names.

``nnx.eval_shape`` builds a model whose Variables hold ``jax.ShapeDtypeStruct`` s. For
restoring a checkpoint straight into sharded arrays, or for ``jax.jit``'s
``out_shardings``, each shape should say where it lives: this attaches a
``NamedSharding`` built from the Variable's sharding names and its ``mesh`` metadata (or
the mesh in context, ``jax.sharding.set_mesh``). Shapes that already have one are kept.
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

import jax
from jax.sharding import NamedSharding, PartitionSpec

from nnx_graph import Variable, check_tree, resolve_graph
from nnx_graph import map as map_state

T = TypeVar("T")
_NAMES = ("out_sharding", "sharding", "sharding_names")


def as_abstract(tree: T, /, *, graph: bool | None = None) -> T:
    """A copy of ``tree`` whose abstract Variables carry their NamedShardings.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jax.ShapeDtypeStruct((4,), jnp.float32), sharding=('d',))
    >>> mesh = jax.make_mesh((1,), ('d',))
    >>> with jax.sharding.set_mesh(mesh):
    ...     abstract = as_abstract(Box())
    >>> abstract.w.get_value().sharding.spec
    P('d',)
    """
    if not resolve_graph(graph):
        check_tree([tree], ["tree"], "nnx.as_abstract")
    return map_state(_with_sharding, tree)  # type: ignore[no-any-return]


def abstract_with_sharding(tree: T, /, graph: bool | None = None) -> T:
    """Flax NNX 0.12's deprecated name of ``as_abstract``: warns, then calls it."""
    warnings.warn(
        "nnx.abstract_with_sharding is deprecated: use nnx.as_abstract.",
        DeprecationWarning,
        stacklevel=2,
    )
    return as_abstract(tree, graph=graph)


def _with_sharding(path: tuple[Any, ...], leaf: Any) -> Any:
    if not isinstance(leaf, Variable):
        return leaf
    value = leaf.get_raw_value()
    if not isinstance(value, jax.ShapeDtypeStruct) or value.sharding is not None:
        return leaf
    metadata = leaf.get_metadata()
    mesh = metadata.get("mesh") or jax.sharding.get_abstract_mesh()
    if getattr(mesh, "empty", False):
        return leaf
    names = next((metadata[k] for k in _NAMES if metadata.get(k) is not None), ())
    sharding = NamedSharding(mesh, PartitionSpec(*names))  # type: ignore[no-untyped-call]
    shape = jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding)  # type: ignore[no-untyped-call]
    return leaf.replace(shape)
