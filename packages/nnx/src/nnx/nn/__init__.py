"""``nnx.nn``: flax's package of layer modules, so ``nnx.nn.linear.Linear`` still resolves.

Each submodule re-exports, as the very same objects, the names flax's module of that name
has and ``nnx`` has at its top level (``nnx.nn.linear.Linear is nnx.Linear``).
"""

from nnx.nn import activations as activations
from nnx.nn import attention as attention
from nnx.nn import dtypes as dtypes
from nnx.nn import initializers as initializers
from nnx.nn import linear as linear
from nnx.nn import lora as lora
from nnx.nn import normalization as normalization
from nnx.nn import recurrent as recurrent
from nnx.nn import stochastic as stochastic
