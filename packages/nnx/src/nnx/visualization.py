"""``nnx.visualization``: flax's module holding ``display``."""

from nnx_display import display

__all__ = [
    "display",
]
