"""``nnx.nn.linear``: flax's module of dense and convolutional layers, over ours.

>>> import nnx
>>> nnx.nn.linear.Linear is nnx.Linear
True
"""

from nnx_graph import Module
from nnx_layers import Conv, ConvTranspose, Einsum, Embed, Initializer, Linear, LinearGeneral

__all__ = [
    "Conv",
    "ConvTranspose",
    "Einsum",
    "Embed",
    "Initializer",
    "Linear",
    "LinearGeneral",
    "Module",
]
