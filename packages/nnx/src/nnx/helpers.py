"""``nnx.helpers``: flax's module of ``Sequential``, ``Dict``, ``List`` and ``TrainState``."""

from nnx_graph import Dict, GraphDef, List, Module, State, Variable
from nnx_layers import Sequential
from nnx_optim import TrainState
from nnx_variables import Rngs

__all__ = [
    "Dict",
    "GraphDef",
    "List",
    "Module",
    "Rngs",
    "Sequential",
    "State",
    "TrainState",
    "Variable",
]
