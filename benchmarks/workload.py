"""The benchmark MLP, described once so that every library builds the same thing.

``depth`` blocks of Linear -> BatchNorm -> relu, with one Dropout(0.1) after the first
block; features go 32 -> 64 -> ... -> 64 -> 10. The loss is the mean squared error, the
optimizer ``optax.adam(1e-3)``, the batch 32 rows of float32.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import jax
import jax.numpy as jnp

DIN = 32
HIDDEN = 64
DOUT = 10
BATCH = 32
DROPOUT_RATE = 0.1
LEARNING_RATE = 1e-3
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5


def layer_sizes(depth: int) -> list[tuple[int, int]]:
    """The (in, out) features of each block's Linear."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth!r}")
    widths = [DIN] + [HIDDEN] * (depth - 1) + [DOUT]
    return list(pairwise(widths))


def batch() -> tuple[jax.Array, jax.Array]:
    """One fixed (x, y) batch; every step of every variant trains on it."""
    kx, ky = jax.random.split(jax.random.key(1234))
    x = jax.random.normal(kx, (BATCH, DIN), jnp.float32)
    y = jax.random.normal(ky, (BATCH, DOUT), jnp.float32)
    return x, y


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    return jnp.mean((pred - target) ** 2)


def define_mlp(lib: Any, make_list: Callable[[list[Any]], Any] = list) -> type:
    """The benchmark MLP written once against the NNX API, for ``nnx`` and ``flax.nnx`` alike.

    Args:
        lib: the ``nnx`` namespace to build with: ``import nnx`` or ``from flax import nnx``.
        make_list: how the library wants a list of sub-modules held. Flax 0.12 asks for
            ``nnx.List``; the tutorial API of ``nnx`` takes a plain ``list``.
    """

    class MLP(lib.Module):
        def __init__(self, depth: int, *, rngs: Any) -> None:
            sizes = layer_sizes(depth)
            self.linears = make_list([lib.Linear(a, b, rngs=rngs) for a, b in sizes])
            self.norms = make_list([lib.BatchNorm(b, rngs=rngs) for _, b in sizes])
            self.dropout = lib.Dropout(DROPOUT_RATE, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
                x = lib.relu(norm(linear(x)))
                if i == 0:
                    x = self.dropout(x)
            return x

    return MLP
