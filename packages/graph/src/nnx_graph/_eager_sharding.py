"""Eager sharding: a Variable with ``out_sharding`` metadata is placed when it is built.

Flax NNX 0.12 records the mesh axis names a Variable's dimensions are split over as
``out_sharding`` (0.10 called the entry ``sharding``; ``sharding_names`` came between),
and, unless ``use_eager_sharding(False)`` or ``eager_sharding=False`` says otherwise,
puts the value on its mesh right away: ``jax.device_put`` for an array,
``with_sharding_constraint`` or ``reshard`` for a tracer inside ``jit``. The mesh is the
Variable's ``mesh`` metadata, else the one set by ``jax.set_mesh``.

Where flax 0.12 raises (names given but no mesh anywhere), the names are only recorded,
as 0.10 did, for ``get_named_sharding`` to place the state later. The old keys are
renamed on every way in (constructor, ``set_metadata``, attribute writes, pickles), so
``v.sharding`` is always the value's ``jax.sharding.Sharding``, as in 0.12.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from nnx_graph._axis_rules import apply_axis_rules
from nnx_graph._errors import describe, message
from nnx_graph._settings import Setting

# The keys earlier flax versions stored the mesh axis names under, oldest first.
OLD_NAMES = ("sharding", "sharding_names")


class use_eager_sharding(Setting):  # flax's name; a class, to be a context manager
    """Make Variables with ``out_sharding`` place their value when built (True) or not.

    Works as a plain call, a ``with`` block and a decorator, as in Flax NNX 0.12.

    >>> with use_eager_sharding(False):
    ...     using_eager_sharding()
    False
    >>> using_eager_sharding()
    True
    """

    name = "eager_sharding"


def using_eager_sharding() -> bool:
    """Whether Variables place their value on their mesh when built (the default).

    >>> using_eager_sharding()
    True
    """
    return use_eager_sharding.current_value()


def rename_old_names(metadata: dict[str, Any]) -> dict[str, Any]:
    """Store ``sharding`` / ``sharding_names`` entries of ``metadata`` as ``out_sharding``.

    In place (keeping the entry's position), and returned. An old name wins over
    ``out_sharding``, the later over the earlier, as in flax 0.12 (so a keyword
    ``sharding=`` beats an initializer's box).
    """
    if "sharding" not in metadata and "sharding_names" not in metadata:
        return metadata  # the common case, on every Variable built: two lookups
    found = [metadata[name] for name in OLD_NAMES if name in metadata]
    renamed: dict[str, Any] = {}
    for key, entry in metadata.items():
        if key in OLD_NAMES or key == "out_sharding":
            renamed.setdefault("out_sharding", found[-1])
        else:
            renamed[key] = entry
    metadata.clear()
    metadata.update(renamed)
    return metadata


def new_name(name: str) -> str:
    """The metadata key an attribute name is stored under."""
    return "out_sharding" if name in OLD_NAMES else name


def shard_value(
    value: Any, out_sharding: Any, mesh: Any, kind: str = "Variable", sharding_rules: Any = None
) -> Any:
    """``value`` placed as ``out_sharding`` names on ``mesh`` (or the context mesh).

    Logical names are first mapped to mesh axes by the ``logical_axis_rules`` in effect
    and the Variable's own ``sharding_rules``. Returned unchanged when there is nothing
    to place: no names, a value that is not an array, or no mesh at all.

    >>> import jax, jax.numpy as jnp
    >>> mesh = jax.make_mesh((1,), ('model',))
    >>> shard_value(jnp.ones(2), ('model',), mesh).sharding.spec
    P('model',)
    """
    if not out_sharding or not isinstance(value, jax.Array | np.ndarray):
        return value
    out_sharding = apply_axis_rules(out_sharding, sharding_rules, f"{kind}(...)")
    if isinstance(out_sharding, NamedSharding):
        mesh = out_sharding.mesh
    elif mesh is None:
        mesh = _context_mesh()
        if mesh is None or not _fits(mesh, out_sharding):
            return value
    check_rank(value, out_sharding, kind)
    try:
        if isinstance(out_sharding, NamedSharding):
            return _place(value, out_sharding)
        spec = PartitionSpec(*out_sharding)  # type: ignore[no-untyped-call]  # jax: unannotated
        return _place(value, NamedSharding(mesh, spec))
    except ValueError as error:
        raise ValueError(
            message(
                f"{kind}(..., out_sharding={out_sharding!r}): cannot place "
                f"{describe(value)} on the mesh (axes {dict(mesh.shape)}).",
                [str(error).splitlines()[0]],
                expected="mesh axis names of the mesh, at most one entry per dimension, "
                "and dimensions divisible by the size of the mesh axes they are split over",
                fix=f"{kind}(value, out_sharding=..., eager_sharding=False) "
                "to record the names without placing the value",
            )
        ) from error


def check_rank(value: Any, out_sharding: Any, kind: str) -> None:
    """Refuse ``out_sharding`` names for more dimensions than ``value`` has.

    >>> import jax.numpy as jnp
    >>> check_rank(jnp.ones((2, 4)), (None, 'model'), 'Param')
    """
    shape = getattr(value, "shape", None)
    if not isinstance(out_sharding, tuple | list) or not isinstance(shape, tuple):
        return
    if len(out_sharding) > len(shape):
        raise ValueError(
            message(
                f"{kind}(..., out_sharding={tuple(out_sharding)!r}): the sharding names "
                f"{len(out_sharding)} dimensions but the value is {describe(value)}.",
                expected=f"at most {len(shape)} entries, one per dimension",
                fix=f"with_partitioning(init, {tuple(out_sharding)[: len(shape)]!r})",
            )
        )


def _context_mesh() -> Any:
    """The mesh set by ``jax.set_mesh``: concrete outside ``jit``, abstract inside."""
    mesh: Any = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return None
    try:
        concrete = jax.sharding.get_mesh()  # device_put needs the devices
    except ValueError:  # inside jit, where only the abstract mesh is known
        return mesh
    return mesh if concrete.empty else concrete


def _fits(mesh: Any, out_sharding: Any) -> bool:
    """Whether a context mesh can take the names: it has them all, none Manual.

    A mesh given as metadata is the user's choice, and a misfit is an error; the context
    mesh may be one a transform set (``shard_map``, ``pmap``), whose axes are not the
    ones the model's names were written for, so a misfit only records the names.
    """
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    return all(
        name in types and types[name] != AxisType.Manual for name in spec_axis_names(out_sharding)
    )


def _place(value: Any, sharding: NamedSharding) -> Any:
    if not isinstance(value, jax.core.Tracer):
        if isinstance(sharding.mesh, Mesh):
            return jax.device_put(value, sharding)
        return jax.sharding.reshard(value, sharding.spec)  # type: ignore[no-untyped-call]  # jax: unannotated
    # Inside jit, device_put does not constrain Auto mesh axes; with_sharding_constraint
    # does, but refuses Explicit axes, which take reshard instead.
    mesh = sharding.mesh
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    if all(types[name] == AxisType.Auto for name in spec_axis_names(sharding.spec)):
        return jax.lax.with_sharding_constraint(value, sharding)  # type: ignore[no-untyped-call]  # jax: unannotated
    return jax.sharding.reshard(value, sharding)  # type: ignore[no-untyped-call]  # jax: unannotated


def spec_axis_names(spec: Any) -> list[str]:
    """The mesh axis names a sharding spec uses, in order (``None`` entries left out).

    >>> spec_axis_names((None, ('data', 'fsdp'), 'model'))
    ['data', 'fsdp', 'model']
    """
    names: list[str] = []
    for entry in spec:
        if isinstance(entry, tuple):
            names.extend(entry)
        elif entry is not None:
            names.append(entry)
    return names
