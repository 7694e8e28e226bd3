"""``nnx.training.ema``: flax 0.12's module holding ``EMA``, over ours."""

from nnx_optim import EMA

__all__ = [
    "EMA",
]
