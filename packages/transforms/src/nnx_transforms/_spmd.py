"""flax's ``nnx.spmd`` names: sharding constraints by partition spec, axes of a State.

``with_sharding_constraint`` constrains arrays to partition specs where a mesh is known
(given, or set by ``jax.sharding.set_mesh`` / ``with mesh:``) and passes them through
where none is, so model code runs unchanged on one device. ``add_axis`` /
``remove_axis`` insert or drop a named axis in every Variable's sharding metadata of a
tree, what ``transform_metadata`` does around a mapped call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nnx_graph import Object, Variable, iter_graph
from nnx_transforms._partition import PARTITION_NAME, _add, _remove

T = TypeVar("T")


def _is_spec(x: Any) -> bool:
    return (
        x is None
        or isinstance(x, PartitionSpec)
        or (isinstance(x, tuple) and all(isinstance(e, str | tuple) or e is None for e in x))
    )


def _constrain(x: Any, spec: Any, mesh: Mesh | None) -> Any:
    context = jax.sharding.get_abstract_mesh()
    if spec is None or (mesh is None and context.empty):
        return x
    spec = spec if isinstance(spec, PartitionSpec) else PartitionSpec(*spec)  # type: ignore[no-untyped-call]
    types = (mesh if mesh is not None else context).axis_types
    if any(t == jax.sharding.AxisType.Explicit for t in types):
        # Explicit axes are moved with reshard; a constraint only binds Auto axes.
        target = NamedSharding(mesh, spec) if mesh is not None else spec
        return jax.sharding.reshard(x, target)  # type: ignore[no-untyped-call]
    target = NamedSharding(mesh, spec) if mesh is not None else spec
    return jax.lax.with_sharding_constraint(x, target)  # type: ignore[no-untyped-call]


def with_sharding_constraint(x: T, axis_resources: Any, mesh: Mesh | None = None) -> T:
    """Constrain ``x`` (a pytree) to ``axis_resources`` (specs, a prefix of ``x``).

    A no-op without a mesh (given or in context), as in flax.

    >>> import jax.numpy as jnp
    >>> with_sharding_constraint(jnp.ones(4), ('data',)).shape
    (4,)
    """
    if axis_resources is None:
        return x
    return jax.tree.map(  # type: ignore[no-any-return]
        lambda spec, leaf: _constrain(leaf, spec, mesh), axis_resources, x, is_leaf=_is_spec
    )


def _variables(tree: Any) -> list[Variable[Any]]:
    found: dict[int, Variable[Any]] = {}
    for leaf in jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, Variable | Object)):
        nodes = iter_graph(leaf) if isinstance(leaf, Object) else [((), leaf)]
        for _, node in nodes:
            if isinstance(node, Variable):
                found.setdefault(id(node), node)
    return list(found.values())


def add_axis(tree: T, index: int, transform_metadata: Mapping[str, Any]) -> T:
    """Insert the axis ``transform_metadata[PARTITION_NAME]`` at ``index`` in every Variable."""
    others = {k: v for k, v in transform_metadata.items() if k != PARTITION_NAME}
    for variable in _variables(tree):
        _add(variable, index, transform_metadata.get(PARTITION_NAME), others)
    return tree


def remove_axis(tree: T, index: int, transform_metadata: Mapping[str, Any]) -> T:
    """Drop the named axis at ``index`` from every Variable (refused if it is not there)."""
    others = {k: v for k, v in transform_metadata.items() if k != PARTITION_NAME}
    for variable in _variables(tree):
        _remove(
            variable,
            index,
            transform_metadata.get(PARTITION_NAME),
            others,
            "tree",
            "nnx.spmd.remove_axis",
        )
    return tree
