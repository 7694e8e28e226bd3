"""``nnx.optimizer``: flax's name for its optimizer module (``nnx.training.optimizer``).

``Object`` and ``VariableState`` are the names flax 0.10's module had.
"""

from nnx_graph import Object, Pytree, Variable, VariableState
from nnx_optim import ModelAndOptimizer, OptArray, Optimizer, OptState, OptVariable
from nnx_variables import Param

__all__ = [
    "ModelAndOptimizer",
    "Object",
    "OptArray",
    "OptState",
    "OptVariable",
    "Optimizer",
    "Param",
    "Pytree",
    "Variable",
    "VariableState",
]
