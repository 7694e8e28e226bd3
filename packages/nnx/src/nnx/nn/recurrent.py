"""``nnx.nn.recurrent``: flax's module of recurrent cells and ``RNN``, over ours.

flax's ``Carry`` here is a typing alias, not ``nnx.Carry`` (the scan marker), so it is left
out.
"""

from nnx_graph import Module
from nnx_layers import (
    RNN,
    Bidirectional,
    GRUCell,
    Initializer,
    Linear,
    LSTMCell,
    OptimizedLSTMCell,
    RNNCellBase,
    SimpleCell,
    sigmoid,
    tanh,
)

__all__ = [
    "Bidirectional",
    "GRUCell",
    "Initializer",
    "LSTMCell",
    "Linear",
    "Module",
    "OptimizedLSTMCell",
    "RNN",
    "RNNCellBase",
    "SimpleCell",
    "sigmoid",
    "tanh",
]
