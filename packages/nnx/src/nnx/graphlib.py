"""``nnx.graphlib``: flax 0.12's name for the module ``nnx.graph`` re-exports.

>>> import nnx
>>> nnx.graphlib.split is nnx.split and nnx.graphlib.RefMap is nnx.graph.RefMap
True
"""

from nnx.graph import *  # noqa: F403  (the same names as nnx.graph, by design)
from nnx.graph import __all__ as __all__
