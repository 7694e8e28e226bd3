"""nnx-layers: the standard neural-network layers, activations and initializers.

Each layer is a ``Module`` that creates its parameters eagerly from an ``Rngs`` (one
``rngs.params()`` key per parameter, in a fixed order, so a seed fixes every value) and
is then called directly. Layers that behave differently in training and inference read
a flag (``Dropout.deterministic``, ``BatchNorm.use_running_average``) that
``model.train()`` and ``model.eval()`` switch for the whole model. A layer given an
input of the wrong shape raises ``LayerInputError`` naming its attribute path in the
model, the size it expected and the shape it got.

Activations are ``jax.nn``'s functions and ``initializers`` is ``jax.nn.initializers``,
re-exported so that numerics are JAX's own.
"""

from nnx_graph import LayerInputError as LayerInputError
from nnx_layers import initializers as initializers
from nnx_layers._activations import celu as celu
from nnx_layers._activations import elu as elu
from nnx_layers._activations import gelu as gelu
from nnx_layers._activations import glu as glu
from nnx_layers._activations import hard_sigmoid as hard_sigmoid
from nnx_layers._activations import hard_silu as hard_silu
from nnx_layers._activations import hard_swish as hard_swish
from nnx_layers._activations import hard_tanh as hard_tanh
from nnx_layers._activations import identity as identity
from nnx_layers._activations import leaky_relu as leaky_relu
from nnx_layers._activations import log_sigmoid as log_sigmoid
from nnx_layers._activations import log_softmax as log_softmax
from nnx_layers._activations import logsumexp as logsumexp
from nnx_layers._activations import mish as mish
from nnx_layers._activations import one_hot as one_hot
from nnx_layers._activations import relu as relu
from nnx_layers._activations import relu6 as relu6
from nnx_layers._activations import selu as selu
from nnx_layers._activations import sigmoid as sigmoid
from nnx_layers._activations import silu as silu
from nnx_layers._activations import soft_sign as soft_sign
from nnx_layers._activations import softmax as softmax
from nnx_layers._activations import softplus as softplus
from nnx_layers._activations import standardize as standardize
from nnx_layers._activations import swish as swish
from nnx_layers._activations import tanh as tanh
from nnx_layers._attention import combine_masks as combine_masks
from nnx_layers._attention import dot_product_attention as dot_product_attention
from nnx_layers._attention import dot_product_attention_weights as dot_product_attention_weights
from nnx_layers._attention import make_attention_mask as make_attention_mask
from nnx_layers._attention import make_causal_mask as make_causal_mask
from nnx_layers._cell_base import RNNCellBase as RNNCellBase
from nnx_layers._conv import Conv as Conv
from nnx_layers._conv_transpose import ConvTranspose as ConvTranspose
from nnx_layers._dropout import Dropout as Dropout
from nnx_layers._embed import Embed as Embed
from nnx_layers._general import Einsum as Einsum
from nnx_layers._general import LinearGeneral as LinearGeneral
from nnx_layers._linear import Linear as Linear
from nnx_layers._lora import LoRA as LoRA
from nnx_layers._lora import LoRALinear as LoRALinear
from nnx_layers._lora import LoRAParam as LoRAParam
from nnx_layers._multihead import MultiHeadAttention as MultiHeadAttention
from nnx_layers._normalization import BatchNorm as BatchNorm
from nnx_layers._normalization import LayerNorm as LayerNorm
from nnx_layers._norms import GroupNorm as GroupNorm
from nnx_layers._norms import InstanceNorm as InstanceNorm
from nnx_layers._norms import RMSNorm as RMSNorm
from nnx_layers._pooling import avg_pool as avg_pool
from nnx_layers._pooling import max_pool as max_pool
from nnx_layers._pooling import min_pool as min_pool
from nnx_layers._pooling import pool as pool
from nnx_layers._prelu import PReLU as PReLU
from nnx_layers._recurrent import GRUCell as GRUCell
from nnx_layers._recurrent import LSTMCell as LSTMCell
from nnx_layers._recurrent import OptimizedLSTMCell as OptimizedLSTMCell
from nnx_layers._recurrent import SimpleCell as SimpleCell
from nnx_layers._rnn import RNN as RNN
from nnx_layers._rnn import Bidirectional as Bidirectional
from nnx_layers._sequential import Sequential as Sequential
from nnx_layers._spectral_norm import SpectralNorm as SpectralNorm
from nnx_layers._weight_norm import WeightNorm as WeightNorm
from nnx_layers.initializers import Initializer as Initializer
