"""``nnx.nn.attention``: flax's attention module, over ``nnx_layers``'s names.

The same objects as ``nnx.MultiHeadAttention``, ``nnx.dot_product_attention``, ...
(``dot_product_attention_weights`` too, which flax keeps here and at ``nnx``'s top level).
"""

from nnx_graph import Module
from nnx_layers import (
    Initializer,
    LayerNorm,
    LinearGeneral,
    MultiHeadAttention,
    combine_masks,
    dot_product_attention,
    dot_product_attention_weights,
    make_attention_mask,
    make_causal_mask,
)

__all__ = [
    "Initializer",
    "LayerNorm",
    "LinearGeneral",
    "Module",
    "MultiHeadAttention",
    "combine_masks",
    "dot_product_attention",
    "dot_product_attention_weights",
    "make_attention_mask",
    "make_causal_mask",
]
