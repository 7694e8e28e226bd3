"""``nnx.object``: flax's name for ``nnx.pytreelib`` (0.12), and 0.10's ``Object`` module.

``VariableState`` is the one name flax 0.10's module had that ``pytreelib`` lacks.
"""

from nnx.pytreelib import *  # noqa: F403  (pytreelib's names, plus VariableState below)
from nnx.pytreelib import __all__ as _pytreelib_names
from nnx_graph import VariableState as VariableState

__all__ = [*_pytreelib_names, "VariableState"]
