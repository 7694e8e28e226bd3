"""``nnx.nn.lora``: flax's LoRA module (``LoRA``, ``LoRALinear``, ``LoRAParam``), over ours."""

from nnx_graph import Module
from nnx_layers import Initializer, Linear, LoRA, LoRALinear, LoRAParam

__all__ = [
    "Initializer",
    "Linear",
    "LoRA",
    "LoRALinear",
    "LoRAParam",
    "Module",
]
