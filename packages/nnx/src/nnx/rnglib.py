"""``nnx.rnglib``: flax's RNG module, for annotations (``rngs: nnx.rnglib.Rngs``) and imports.

The same objects as ``nnx.Rngs``, ``nnx.split_rngs``, ...; ``fork``, ``ForkStates``,
``Object``, ``State`` and ``All`` are the names flax 0.10's module had.

>>> from nnx.rnglib import Rngs
>>> import nnx
>>> Rngs is nnx.Rngs
True
"""

from nnx_graph import All, Object, Pytree, State, Variable
from nnx_transforms import split_rngs
from nnx_variables import (
    ForkStates,
    RngCount,
    RngKey,
    Rngs,
    RngState,
    RngStream,
    SplitBackups,
    fork,
    fork_rngs,
    reseed,
    restore_rngs,
    with_rngs,
)

__all__ = [
    "All",
    "ForkStates",
    "Object",
    "Pytree",
    "RngCount",
    "RngKey",
    "RngState",
    "RngStream",
    "Rngs",
    "SplitBackups",
    "State",
    "Variable",
    "fork",
    "fork_rngs",
    "reseed",
    "restore_rngs",
    "split_rngs",
    "with_rngs",
]
