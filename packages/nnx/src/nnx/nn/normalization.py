"""``nnx.nn.normalization``: flax's normalization layers module, over ours."""

from nnx_graph import Module
from nnx_layers import (
    BatchNorm,
    GroupNorm,
    Initializer,
    InstanceNorm,
    LayerNorm,
    RMSNorm,
    SpectralNorm,
    WeightNorm,
)

__all__ = [
    "BatchNorm",
    "GroupNorm",
    "Initializer",
    "InstanceNorm",
    "LayerNorm",
    "Module",
    "RMSNorm",
    "SpectralNorm",
    "WeightNorm",
]
