"""``nnx.nn.stochastic``: flax's module holding ``Dropout``, over ours."""

from nnx_graph import Module
from nnx_layers import Dropout

__all__ = [
    "Dropout",
    "Module",
]
