"""``nnx.summary``: flax's module holding ``tabulate``."""

from nnx_display import tabulate

__all__ = [
    "tabulate",
]
