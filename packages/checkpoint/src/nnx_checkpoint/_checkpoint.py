"""``save`` and ``restore``: one object graph's Variables to one orbax checkpoint and back.

``restore`` runs in three steps, in this order, so a checkpoint that does not fit
changes nothing:

1. read the target's Variables (those the filter selects) and the checkpoint's metadata;
2. compare them and report every missing, extra or mismatched path in one error;
3. read exactly the selected arrays, each straight into the target's sharding, and
   write them into the target's Variables a quarter of its bytes at a time, so the old
   arrays are freed as the new ones arrive (a State target gets a new State instead).

The on-disk layout is orbax's standard PyTree checkpoint of ``nnx.to_pure_dict``'s
nested dict (typed keys as their ``key_data``), so ``ocp.StandardCheckpointer`` reads it
without nnx.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp

from nnx_checkpoint._leaves import (
    AbstractMeshError,
    Key,
    abstract_stored,
    is_typed_key,
    key_impl_name,
    key_of,
    nest,
    rebuilt_value,
    stored_value,
    unnest,
)
from nnx_graph import (
    Everything,
    Filter,
    Object,
    Path,
    State,
    Variable,
    describe,
    format_path,
    message,
    root_name,
)
from nnx_graph import state as graph_state

T = TypeVar("T")

FLAX_VALUE = "value"  # the level flax's Variables add under each path in a checkpoint
FORMAT = "nnx-checkpoint/1"  # written to the step metadata; read back only to explain


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read, or does not fit the target it is read into."""


def save(path: str | os.PathLike[str], obj_or_state: Any, *, force: bool = False) -> None:
    """Write every Variable of a model, Optimizer or State to the directory ``path``.

    The write is atomic: orbax writes a temporary directory and renames it when complete,
    so an interrupted save never leaves something that reads as a checkpoint.

    Args:
        path: the checkpoint directory; it must not exist unless ``force`` is set.
        obj_or_state: an ``nnx.Object`` (model, Optimizer, Rngs, ...) or a ``State``.
        force: replace an existing checkpoint at ``path``.

    >>> import tempfile, jax.numpy as jnp, nnx_graph
    >>> path = tempfile.mkdtemp() + '/ckpt'
    >>> save(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.ones(2))}))
    """
    checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    tree, metadata = saved_tree(obj_or_state, "nnx_checkpoint.save")
    directory = os.path.abspath(os.fspath(path))
    if os.path.exists(directory) and not force:
        raise CheckpointError(
            message(
                f"nnx_checkpoint.save: {directory} already exists.",
                expected="a path where nothing is stored yet",
                fix=f"nnx_checkpoint.save({os.fspath(path)!r}, model, force=True)",
            )
        )
    checkpointer.save(
        directory, args=ocp.args.PyTreeSave(tree), force=force, custom_metadata=metadata
    )


def saved_tree(obj_or_state: Any, op: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The nested dict of arrays written for ``obj_or_state``, and its metadata."""
    flat = variables_of(obj_or_state, Everything(), op)
    leaves: dict[Key, Any] = {}
    typed_keys: dict[str, str] = {}
    for path, variable in flat.items():
        value = variable.get_raw_value()
        if value is None:
            continue
        leaves[key_of(path)] = stored_value(value)
        if is_typed_key(value):
            typed_keys["/".join(key_of(path))] = key_impl_name(value)
    return nest(leaves), {"format": FORMAT, "typed_keys": typed_keys}


def restore(path: str | os.PathLike[str], target: T, filter: Filter = ...) -> T:
    """Read the checkpoint at ``path`` into ``target`` and return it.

    ``target`` is a model, an Optimizer, any ``nnx.Object``, an abstract model from
    ``nnx.eval_shape`` (filled in place with real arrays), or a ``State`` (a new State
    is returned; the given one is not changed). Every array is read straight into the
    sharding of the target's value (or its ``with_partitioning`` metadata), so a
    checkpoint saved on one mesh restores onto another. Typed PRNG keys are rebuilt
    with the target's impl.

    Args:
        path: a directory written by ``save`` or by ``ocp.StandardCheckpointer``.
        target: where the values go; it fixes the shapes, dtypes and shardings read.
        filter: restore only the Variables it selects (``nnx.Param``, a callable on
            ``(path, variable)``, ...); the target's other Variables keep their values,
            and checkpoint entries it does not select are not read.

    >>> import tempfile, jax.numpy as jnp, nnx_graph
    >>> path = tempfile.mkdtemp() + '/ckpt'
    >>> save(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.ones(2))}))
    >>> restore(path, nnx_graph.State({'w': nnx_graph.Variable(jnp.zeros(2))}))['w'][...]
    Array([1., 1.], dtype=float32)
    """
    op = "nnx_checkpoint.restore"
    directory = os.path.abspath(os.fspath(path))
    selected = {
        path: v for path, v in variables_of(target, filter, op).items() if v.raw_value is not None
    }
    stored, suffix = stored_metadata(directory, op)
    check_fits(selected, stored, full=_selects_everything(filter), op=op, root=root_of(target))
    abstract = {key_of(p): abstract_stored(v) for p, v in selected.items()}
    if isinstance(target, State):  # the caller keeps the old State: nothing to free
        values = read_arrays(directory, abstract, suffix, op)
        restored = {p: rebuilt_value(v, values[key_of(p)]) for p, v in selected.items()}
        return write_values(target, selected, restored)
    done: list[str] = []
    for group in read_groups(selected):
        values = read_arrays(
            directory, {key_of(p): abstract[key_of(p)] for p in group}, suffix, op, done
        )
        # Each old array loses the target's reference as its new one is written.
        write_values(
            target,
            {p: selected[p] for p in group},
            {p: rebuilt_value(selected[p], values.pop(key_of(p))) for p in group},
        )
        done.extend(format_path(p, root_of(target)) for p in group)
    return target


def write_values(
    target: T, selected: Mapping[Path, Variable[Any]], values: Mapping[Path, Any]
) -> T:
    """Put the restored ``values`` into ``target``: in place, or as a new State."""
    if isinstance(target, State):
        flat = dict(target.flat_dict())
        for path, variable in selected.items():
            flat[path] = variable.replace(values[path])
        return State.from_flat_path(flat)  # type: ignore[return-value]  # T is State here
    for path, variable in selected.items():
        variable.value = values[path]
    return target


GROUPS = 4  # a concrete restore reads about a quarter of the target's bytes at a time
# Smaller groups are not worth their orbax call (~8 ms, the time to read ~16 MiB): a
# model under 32 MiB is read in one or two calls.
MIN_GROUP_BYTES = 16 * 2**20


def read_groups(selected: Mapping[Path, Variable[Any]]) -> list[list[Path]]:
    """Split the target's paths into reads of ``1 / GROUPS`` of its bytes (16 MiB or more).

    ``restore`` writes each group into the target as soon as it is read, which drops the
    target's references to the old arrays of that group (freed unless the caller holds
    them), so a concrete model is held once plus one group (or its largest array), not
    twice. Reading everything first would be atomic against a damaged data file too,
    but holds two full copies at its peak. Each group is one orbax call, about 8 ms of
    overhead on CPU, so four groups cost ~30 ms on top of the read. An abstract target
    (``nnx.eval_shape``) holds no arrays and is read in one call.
    """
    sizes = {path: _nbytes(variable.get_raw_value()) for path, variable in selected.items()}
    total = sum(sizes.values())
    budget = max(total / GROUPS, min(total, MIN_GROUP_BYTES))
    groups: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path, nbytes in sizes.items():
        if current and size + nbytes > budget:
            groups.append(current)
            current, size = [], 0
        current.append(path)
        size += nbytes
    if current:
        groups.append(current)
    return groups


def _nbytes(value: Any) -> int:
    if isinstance(value, jax.Array | np.ndarray) and not is_typed_key(value):
        return int(value.nbytes)
    return 0  # an abstract value, a typed key (a few bytes) or a Python scalar


def stored_metadata(directory: str, op: str) -> tuple[dict[Key, Any], Key]:
    """``{key: ArrayMetadata}`` for every array in the checkpoint at ``directory``.

    Also returns the suffix every stored key carries beyond the graph path: ``()`` for
    ours, ``('value',)`` for flax's (``StandardCheckpointer().save(path,
    nnx.state(model))`` in flax 0.10 and 0.12 stores each Variable as ``{'value': x}``).
    """
    if not os.path.isdir(directory):
        raise CheckpointError(
            message(
                f"{op}: no checkpoint at {directory} (no such directory).",
                expected="a directory written by nnx_checkpoint.save or a CheckpointManager",
                fix="nnx_checkpoint.CheckpointManager(root).latest_step()  # to find one",
            )
        )
    reason, cause = None, None
    try:
        # The handler's metadata, not a Checkpointer's: that one also reads the step's
        # _CHECKPOINT_METADATA, which a CheckpointManager keeps one level up (in
        # <step>/, not <step>/default/), and logs a warning on every resume.
        tree = ocp.PyTreeCheckpointHandler().metadata(pathlib.Path(directory))
        tree = getattr(tree, "tree", tree)
    except Exception as error:  # orbax raises many kinds; each means "cannot read it"
        reason, cause = f"{type(error).__name__}: {error}", error
    else:
        if not isinstance(tree, Mapping):
            reason = "it holds no tree of arrays"
    if reason is not None:
        raise CheckpointError(
            message(
                f"{op}: {directory} is not a readable checkpoint ({reason}).",
                expected="a directory written by nnx_checkpoint.save or orbax's "
                "StandardCheckpointer, complete (an interrupted save is never renamed "
                "into place)",
                fix="restore an earlier step: manager.restore(manager.all_steps()[-2], model)",
            )
        ) from cause
    flat = unnest(tree)
    if len(flat) > 1 and all(key[-1] == FLAX_VALUE for key in flat):
        return {key[:-1]: leaf for key, leaf in flat.items()}, (FLAX_VALUE,)
    return flat, ()


def read_arrays(
    directory: str,
    abstract: Mapping[Key, jax.ShapeDtypeStruct],
    suffix: Key = (),
    op: str = "",
    done: Sequence[str] = (),
) -> dict[Key, Any]:
    """Read the arrays named by ``abstract``'s keys, each into its shape and sharding.

    The metadata already matched, so a failure here means damaged data (a truncated or
    deleted file): reported as a CheckpointError naming the Variables already restored
    by earlier reads (``done``); nothing else was changed.
    """
    item = nest({(*key, *suffix): leaf for key, leaf in abstract.items()})
    restore_args = ocp.checkpoint_utils.construct_restore_args(item)
    checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    try:
        tree = checkpointer.restore(
            directory,
            args=ocp.args.PyTreeRestore(item, restore_args=restore_args, partial_restore=True),
        )
    except Exception as error:  # tensorstore raises a bare Exception for damaged data
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        changed = (
            f"{len(done)} Variable(s) read before it were restored ({', '.join(done)}), "
            "the others not changed"
            if done
            else "nothing was changed"
        )
        raise CheckpointError(
            message(
                f"{op or 'nnx_checkpoint.restore'}: the arrays in {directory} could not be "
                f"read ({first_line}); {changed}.",
                expected="a complete checkpoint; its metadata is intact but its data is not "
                "(a truncated or deleted file)",
                fix="restore an earlier step: manager.restore(manager.all_steps()[-2], model)",
            )
        ) from error
    return {key[: len(key) - len(suffix)]: leaf for key, leaf in unnest(tree).items()}


def check_fits(
    selected: Mapping[Path, Variable[Any]],
    stored: Mapping[Key, Any],
    *,
    full: bool,
    op: str,
    root: str,
) -> None:
    problems = []
    by_key = {key_of(path): path for path in selected}
    for key, path in by_key.items():
        where = format_path(path, root)
        try:
            expected = abstract_stored(selected[path])
        except AbstractMeshError as error:
            problems.append(
                f"{where}: {error}, with no devices (built under nnx.eval_shape); wrap "
                "the restore in `with jax.set_mesh(mesh):` or pass mesh= to "
                "with_partitioning"
            )
            continue
        if key not in stored:
            problems.append(f"{where}: missing from the checkpoint (the target has it)")
            continue
        found = stored[key]
        shape, dtype = tuple(found.shape), np.dtype(found.dtype)
        if shape != expected.shape or dtype != np.dtype(expected.dtype):
            kind = (
                " (the key_data of a typed PRNG key)"
                if is_typed_key(selected[path].raw_value)
                else ""
            )
            problems.append(
                f"{where}: checkpoint has shape={shape}, dtype={dtype.name}; the target "
                f"expects shape={expected.shape}, dtype={np.dtype(expected.dtype).name}{kind}"
            )
    if full:
        for key in sorted(set(stored) - set(by_key)):
            path = tuple(int(k) if k.isdigit() else k for k in key)  # list indices
            problems.append(f"{format_path(path, root)}: in the checkpoint, not in the target")
    if problems:
        raise CheckpointError(
            message(
                f"{op}: the checkpoint does not fit the target ({len(problems)} "
                "problem(s)); nothing was changed.",
                problems,
                expected="the same paths, shapes and dtypes as the saved model",
                fix="build the target as the saved model was built, or restore a part: "
                f"{op}(path, model, nnx.Param)",
            )
        )


def variables_of(obj_or_state: Any, filter: Filter, op: str) -> dict[Path, Variable[Any]]:
    if isinstance(obj_or_state, State):
        state = obj_or_state if _selects_everything(filter) else obj_or_state.filter(filter)
    elif isinstance(obj_or_state, Object):
        state = graph_state(obj_or_state, filter)
    else:
        raise TypeError(
            message(
                f"{op}: expected an nnx Object (a model, Optimizer, ...) or a State, got "
                f"{describe(obj_or_state)}.",
                fix=f"{op}(path, nnx.state(tree)) for a pytree of Variables, or "
                "nnx_checkpoint.export_npz for a plain dict of arrays",
            )
        )
    flat: dict[Path, Variable[Any]] = dict(state.flat_dict())
    return flat


def _selects_everything(filter: Filter) -> bool:
    return filter is Ellipsis or filter is True or isinstance(filter, Everything)


def root_of(target: Any) -> str:
    return "state" if isinstance(target, State) else root_name(target)
