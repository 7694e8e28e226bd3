"""The bridge between a graph's Variables and the plain tree of arrays orbax stores.

A checkpoint holds a nested dict with string keys and array leaves: the graph's State
with each Variable replaced by its value and list indices written as strings, which is
what ``nnx.to_pure_dict`` gives and what flax users save. Two things need care:

- typed PRNG keys (``jax.random.key``) cannot be serialised, so their ``key_data`` is
  stored and the key is rebuilt with the *target's* impl on restore; the impl's name is
  kept in the checkpoint's metadata only to explain a mismatch;
- a restore must know, per leaf, the shape, dtype and sharding to read into. They come
  from the target's own value (a concrete array, or the ``ShapeDtypeStruct`` left by
  ``nnx.eval_shape``), so arrays land where the target says and never on one device
  first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import jax
import numpy as np
from jax.sharding import (
    AbstractMesh,
    Mesh,
    NamedSharding,
    PartitionSpec,
    Sharding,
    SingleDeviceSharding,
)

from nnx_graph import Path, Variable

Key: TypeAlias = tuple[str, ...]


def key_of(path: Path) -> Key:
    """The checkpoint key of a graph path: every entry as a string, as orbax stores it."""
    return tuple(str(entry) for entry in path)


def is_typed_key(value: Any) -> bool:
    """Whether ``value`` (an array or a ``ShapeDtypeStruct``) is a typed PRNG key array."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jax.numpy.issubdtype(dtype, jax.dtypes.prng_key)


def key_impl_name(value: Any) -> str:
    """The name of a typed key's impl, for the metadata and for error messages."""
    return str(_key_impl(value))


def _key_impl(value: Any) -> Any:
    if isinstance(value, jax.Array):
        return jax.random.key_impl(value)
    # jax.random.key_impl rejects a ShapeDtypeStruct (the value nnx.eval_shape leaves in
    # an abstract model); its key dtype carries the impl, with no public accessor.
    return value.dtype._impl


def stored_value(value: Any) -> Any:
    """What is written for one Variable's value: the value, or a typed key's data."""
    if is_typed_key(value):
        return jax.random.key_data(value)
    if isinstance(value, jax.Array | np.ndarray):
        return value
    return np.asarray(value)


def abstract_stored(variable: Variable[Any]) -> jax.ShapeDtypeStruct:
    """The shape, dtype and sharding to read one Variable's stored value into."""
    value = variable.get_raw_value()
    sharding = _sharding(variable, value)
    if is_typed_key(value):
        data = jax.eval_shape(jax.random.key_data, shape_dtype(value.shape, value.dtype))
        return shape_dtype(data.shape, data.dtype, sharding)
    return shape_dtype(np.shape(value), _dtype(value), sharding)


def shape_dtype(shape: Any, dtype: Any, sharding: Sharding | None = None) -> jax.ShapeDtypeStruct:
    """``jax.ShapeDtypeStruct``, typed (jax leaves its constructor unannotated)."""
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)  # type: ignore[no-untyped-call]


def rebuilt_value(variable: Variable[Any], restored: Any) -> Any:
    """The restored array in the form the target holds: typed keys are wrapped again."""
    value = variable.get_raw_value()
    if is_typed_key(value):
        return jax.random.wrap_key_data(restored, impl=_key_impl(value))
    return restored


def _dtype(value: Any) -> Any:
    dtype = getattr(value, "dtype", None)
    return dtype if dtype is not None else np.asarray(value).dtype


def _sharding(variable: Variable[Any], value: Any) -> Sharding:
    """The target's sharding: its value's own, else its ``with_partitioning`` metadata.

    An abstract model from ``nnx.eval_shape`` keeps the shardings its initializers
    placed (a ``ShapeDtypeStruct`` with ``sharding``); one built with
    ``with_partitioning(init, spec, mesh)`` but not placed still records the mesh.
    Anything else lands on the default device, as ``jnp.asarray`` would put it.

    ``nnx.eval_shape`` traces under ``jit``, so its shardings name an ``AbstractMesh``
    (axis names and sizes, no devices); reading needs devices, so the abstract mesh is
    swapped for the concrete one recorded in the metadata or set with ``jax.set_mesh``.
    """
    metadata = variable.get_metadata()
    sharding = getattr(value, "sharding", None)
    if isinstance(sharding, NamedSharding) and isinstance(sharding.mesh, AbstractMesh):
        mesh = _concrete_mesh(metadata.get("mesh"), sharding.mesh)
        return NamedSharding(mesh, sharding.spec)
    if isinstance(sharding, Sharding):
        return sharding
    mesh, spec = metadata.get("mesh"), metadata.get("sharding")
    if mesh is not None and spec is not None:
        return NamedSharding(mesh, PartitionSpec(*spec))  # type: ignore[no-untyped-call]  # jax
    return SingleDeviceSharding(jax.devices()[0])


class AbstractMeshError(ValueError):
    """A target's sharding names a mesh without devices and no concrete one matches it."""


def _concrete_mesh(recorded: Any, abstract: AbstractMesh) -> Mesh:
    for mesh in (recorded, jax.sharding.get_mesh()):
        if isinstance(mesh, Mesh) and mesh.shape_tuple == abstract.shape_tuple:
            return mesh
    raise AbstractMeshError(f"its sharding is on an abstract mesh {dict(abstract.shape)}")


def nest(flat: Mapping[Key, Any]) -> dict[str, Any]:
    """Build the nested dict orbax stores from ``{key: leaf}``."""
    tree: dict[str, Any] = {}
    for key, leaf in flat.items():
        node = tree
        for entry in key[:-1]:
            node = node.setdefault(entry, {})
        node[key[-1]] = leaf
    return tree


def unnest(tree: Mapping[str, Any], prefix: Key = ()) -> dict[Key, Any]:
    """The inverse of ``nest``: ``{key: leaf}`` for every leaf of a nested mapping."""
    flat: dict[Key, Any] = {}
    for name, child in tree.items():
        key = (*prefix, str(name))
        if isinstance(child, Mapping):
            flat.update(unnest(child, key))
        else:
            flat[key] = child
    return flat
