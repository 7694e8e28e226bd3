"""Export to a numpy ``.npz`` file and import back: arrays by flat name, no orbax needed.

For interop with code that knows neither nnx nor orbax (numpy, PyTorch, a converter
script): one flat ``{'linear1/kernel': array}`` mapping, the layout of safetensors and of
``nnx.to_pure_dict`` flattened with ``/``. ``.npz`` was chosen over safetensors because
numpy reads and writes it with no extra dependency, and it keeps every numpy dtype
(bfloat16 arrives as ``V2`` raw bytes in numpy itself, so it is stored as float32 here and
cast back on import). It is a whole-array, one-host format: use ``save`` for sharded
or large models.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import jax
import numpy as np

from nnx_checkpoint._checkpoint import (
    CheckpointError,
    check_fits,
    root_of,
    variables_of,
    write_values,
)
from nnx_checkpoint._leaves import abstract_stored, key_of, rebuilt_value, shape_dtype, stored_value
from nnx_graph import Everything, Filter, message

T = TypeVar("T")


def export_npz(path: str | os.PathLike[str], obj_or_state: Any) -> None:
    """Write every Variable's value to ``path`` (``.npz``), named by its ``/``-joined path.

    Typed PRNG keys are written as their ``key_data``.

    >>> import tempfile, jax.numpy as jnp, nnx_graph
    >>> path = tempfile.mkdtemp() + '/model.npz'
    >>> export_npz(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.ones(2))}))
    >>> sorted(np.load(path))
    ['w']
    """
    arrays: dict[str, np.ndarray] = {}
    for p, variable in variables_of(
        obj_or_state, Everything(), "nnx_checkpoint.export_npz"
    ).items():
        value = variable.get_raw_value()
        if value is None:
            continue
        array = np.asarray(jax.device_get(stored_value(value)))
        if array.dtype == jax.numpy.bfloat16:
            array = array.astype(np.float32)
        arrays["/".join(key_of(p))] = array
    with open(os.fspath(path), "wb") as file:
        np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds loosely


def import_npz(path: str | os.PathLike[str], target: T, filter: Filter = ...) -> T:
    """Read an ``export_npz`` file into ``target``, with ``restore``'s checks and shardings.

    >>> import tempfile, jax.numpy as jnp, nnx_graph
    >>> path = tempfile.mkdtemp() + '/model.npz'
    >>> export_npz(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.ones(2))}))
    >>> import_npz(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.zeros(2))}))['w'][...]
    Array([1., 1.], dtype=float32)
    """
    op = "nnx_checkpoint.import_npz"
    try:
        with np.load(os.fspath(path)) as file:
            arrays = {tuple(name.split("/")): file[name] for name in file.files}
    except (OSError, ValueError) as error:
        raise CheckpointError(
            message(
                f"{op}: cannot read {os.fspath(path)!r} ({type(error).__name__}: {error}).",
                expected="an .npz file written by nnx_checkpoint.export_npz",
            )
        ) from error
    selected = {
        p: v for p, v in variables_of(target, filter, op).items() if v.raw_value is not None
    }
    abstract = {p: abstract_stored(v) for p, v in selected.items()}
    stored = {key: shape_dtype(a.shape, a.dtype) for key, a in arrays.items()}
    for p, a in abstract.items():  # float32 stood in for bfloat16 on export
        key = key_of(p)
        if key in stored and a.dtype == jax.numpy.bfloat16 and stored[key].dtype == np.float32:
            stored[key] = shape_dtype(stored[key].shape, a.dtype)
    full = filter is Ellipsis or filter is True or isinstance(filter, Everything)
    check_fits(selected, stored, full=full, op=op, root=root_of(target))
    values = {
        p: rebuilt_value(
            v, jax.device_put(arrays[key_of(p)].astype(abstract[p].dtype), abstract[p].sharding)
        )
        for p, v in selected.items()
    }
    return write_values(target, selected, values)
