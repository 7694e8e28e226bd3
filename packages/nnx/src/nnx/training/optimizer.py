"""``nnx.training.optimizer``: flax's optimizer module; the names of ``nnx.optimizer``.

>>> import nnx
>>> nnx.training.optimizer.Optimizer is nnx.Optimizer
True
"""

from nnx.optimizer import (
    ModelAndOptimizer,
    Object,
    OptArray,
    Optimizer,
    OptState,
    OptVariable,
    Param,
    Pytree,
    Variable,
    VariableState,
)

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
