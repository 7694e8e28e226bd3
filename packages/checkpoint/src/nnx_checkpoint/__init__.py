"""nnx-checkpoint: save and restore object graphs with orbax-checkpoint.

A checkpoint stores a graph's Variables, not its structure: ``save(path, model)`` writes
every array (parameters, batch statistics, optimizer state and step, RNG keys and
counts) as orbax's standard PyTree checkpoint, and ``restore(path, target)`` reads them
back into a target built the same way, whose values also decide where each array lands
(its shape, dtype and sharding). An abstract target from ``nnx.eval_shape`` restores
without ever building the model's initial values; a filter restores a part and keeps
the rest. ``CheckpointManager`` numbers steps, keeps the last few (or best few) and saves
in the background. This is the only package that imports orbax; ``import nnx`` loads it
on first use of ``nnx.checkpoint``.
"""

from nnx_checkpoint._checkpoint import CheckpointError as CheckpointError
from nnx_checkpoint._checkpoint import restore as restore
from nnx_checkpoint._checkpoint import save as save
from nnx_checkpoint._manager import CheckpointManager as CheckpointManager
from nnx_checkpoint._npz import export_npz as export_npz
from nnx_checkpoint._npz import import_npz as import_npz
