"""``nnx.training.optimizer``: flax's optimizer module; the names of ``nnx.optimizer``.

>>> import nnx
>>> nnx.training.optimizer.Optimizer is nnx.Optimizer
True
"""

from nnx.optimizer import *  # noqa: F403  (the same names as nnx.optimizer, by design)
from nnx.optimizer import __all__ as __all__
