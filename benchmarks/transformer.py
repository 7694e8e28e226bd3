"""The benchmark transformer, described once so that every library builds the same thing.

A decoder-only language model: token + position ``Embed``, ``blocks`` pre-LayerNorm blocks
of causal ``MultiHeadAttention`` and a GELU MLP (4x wide), a final LayerNorm and a Linear
head. Training: next-token cross entropy on a fixed random batch, ``optax.adamw``.
Decoding: from one start token, ``decode_tokens`` greedy steps with the attention caches,
one jitted step per token (the loop a user writes).

``FULL`` is the size the issue asks for; ``SMOKE`` keeps ``make bench-smoke`` quick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class Config:
    vocab: int
    d_model: int
    heads: int
    blocks: int
    seq: int
    batch: int
    decode_tokens: int


FULL = Config(vocab=256, d_model=128, heads=4, blocks=4, seq=64, batch=16, decode_tokens=64)
SMOKE = Config(vocab=32, d_model=16, heads=2, blocks=1, seq=8, batch=2, decode_tokens=4)
SIZES = {"full": FULL, "smoke": SMOKE}


def tokens(cfg: Config) -> tuple[jax.Array, jax.Array]:
    """One fixed (inputs, targets) batch of token ids; every step trains on it."""
    ids = jax.random.randint(jax.random.key(1234), (cfg.batch, cfg.seq + 1), 0, cfg.vocab)
    return ids[:, :-1], ids[:, 1:]


def loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def define_transformer(lib: Any, make_list: Callable[[list[Any]], Any] = list) -> type:
    """The benchmark transformer written once against the NNX API (``nnx`` or ``flax.nnx``)."""

    class Block(lib.Module):
        def __init__(self, cfg: Config, *, decode: bool, rngs: Any) -> None:
            d = cfg.d_model
            self.ln1 = lib.LayerNorm(d, rngs=rngs)
            self.attn = lib.MultiHeadAttention(
                cfg.heads, d, decode=decode, deterministic=True, rngs=rngs
            )
            self.ln2 = lib.LayerNorm(d, rngs=rngs)
            self.up = lib.Linear(d, 4 * d, rngs=rngs)
            self.down = lib.Linear(4 * d, d, rngs=rngs)

        def __call__(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
            x = x + self.attn(self.ln1(x), mask=mask)
            return x + self.down(lib.gelu(self.up(self.ln2(x))))

    class Transformer(lib.Module):
        def __init__(self, cfg: Config, *, decode: bool = False, rngs: Any) -> None:
            self.tok = lib.Embed(cfg.vocab, cfg.d_model, rngs=rngs)
            self.pos = lib.Embed(cfg.seq, cfg.d_model, rngs=rngs)
            self.blocks = make_list(
                [Block(cfg, decode=decode, rngs=rngs) for _ in range(cfg.blocks)]
            )
            self.ln_f = lib.LayerNorm(cfg.d_model, rngs=rngs)
            self.head = lib.Linear(cfg.d_model, cfg.vocab, rngs=rngs)
            self.cfg = cfg

        def __call__(self, ids: jax.Array, positions: jax.Array) -> jax.Array:
            """Logits for token ``ids`` (batch, length) at ``positions`` (1, length)."""
            x = self.tok(ids) + self.pos(positions)
            # Decoding feeds one token at a time and the caches mask what is not written yet.
            mask = None if ids.shape[1] == 1 else lib.make_causal_mask(ids)
            for block in self.blocks:
                x = block(x, mask)
            return self.head(self.ln_f(x))

        def init_caches(self) -> None:
            for block in self.blocks:
                block.attn.init_cache((self.cfg.batch, self.cfg.seq, self.cfg.d_model))

    return Transformer


def greedy(step: Callable[[jax.Array, jax.Array], jax.Array], cfg: Config) -> jax.Array:
    """Decode ``cfg.decode_tokens`` tokens from token 0; ``step(ids, position)`` -> next ids."""
    ids = jnp.zeros((cfg.batch, 1), jnp.int32)
    out = []
    for t in range(cfg.decode_tokens):
        ids = step(ids, jnp.full((1, 1), t, jnp.int32))
        out.append(ids)
    return jnp.concatenate(out, axis=1)
