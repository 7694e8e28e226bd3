"""The benchmark MLP in ``nnx`` (ours), written exactly as a user of the tutorial API would.

Public API only: ``nnx.Linear``, ``nnx.BatchNorm``, ``nnx.Dropout``, ``nnx.Optimizer``,
``@nnx.jit`` around ``nnx.value_and_grad`` and ``optimizer.update(grads)``. No cache, no
hand-made split/merge: the point is what the plain, documented way costs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

import nnx
from benchmarks.timing import Case
from benchmarks.transformer import LEARNING_RATE as TRANSFORMER_LR
from benchmarks.transformer import SIZES, define_transformer, greedy, tokens
from benchmarks.transformer import loss as lm_loss
from benchmarks.workload import LEARNING_RATE, batch, define_mlp, mse

MLP = define_mlp(nnx)


def build(depth: int) -> tuple[Any, Any]:
    """The model and its optimizer (which holds the model, as in the tutorial)."""
    model = MLP(depth, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE))
    return model, optimizer


def train(depth: int) -> Case:
    model, optimizer = build(depth)
    x, y = batch()

    @nnx.jit
    def train_step(model: Any, optimizer: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        def loss_fn(model: Any) -> jax.Array:
            return mse(model(x), y)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(grads)
        return loss

    return Case(
        lambda: train_step(model, optimizer, x, y),
        lambda: nnx.state((model, optimizer)),
    )


def train_pytree(depth: int) -> Case:
    """The step under plain ``jax.jit``, the model a pytree (flax 0.12's tree mode).

    Changes made inside ``jax.jit`` stay inside, so the step returns the optimizer (which
    holds the model) and the caller keeps the new one: every call flattens and rebuilds
    the whole graph, the cost ``nnx.jit``'s cached walk avoids.
    """
    _, optimizer = build(depth)
    x, y = batch()

    @jax.jit
    def train_step(optimizer: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Any]:
        model = optimizer.model
        loss, grads = nnx.value_and_grad(lambda m: mse(m(x), y))(model)
        optimizer.update(model, grads)
        return loss, optimizer

    held = [optimizer]

    def step() -> jax.Array:
        loss, held[0] = train_step(held[0], x, y)
        return loss

    return Case(step, lambda: nnx.state(held[0]))


def empty(depth: int) -> Case:
    model, optimizer = build(depth)

    @nnx.jit
    def empty_step(model: Any, optimizer: Any) -> jax.Array:
        return jnp.zeros((), jnp.float32)

    return Case(lambda: empty_step(model, optimizer), lambda: None)


def empty_pytree(depth: int) -> Case:
    """The empty step under plain ``jax.jit``: flattening the model as a pytree, per call."""
    _, optimizer = build(depth)
    empty_step = jax.jit(lambda optimizer: jnp.zeros((), jnp.float32))
    return Case(lambda: empty_step(optimizer), lambda: None)


def split_merge(depth: int) -> tuple[Any, Any]:
    """``(split, merge)`` callables over this depth's (model, optimizer)."""
    model, optimizer = build(depth)
    graphdef, state = nnx.split((model, optimizer))
    return (lambda: nnx.split((model, optimizer))), (lambda: nnx.merge(graphdef, state))


Transformer = define_transformer(nnx)


def transformer_train(size: str) -> Case:
    cfg = SIZES[size]
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(TRANSFORMER_LR))
    ids, targets = tokens(cfg)
    positions = jnp.arange(cfg.seq)[None]

    @nnx.jit
    def train_step(model: Any, optimizer: Any, ids: jax.Array, targets: jax.Array) -> jax.Array:
        def loss_fn(model: Any) -> jax.Array:
            return lm_loss(model(ids, positions), targets)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(grads)
        return loss

    return Case(
        lambda: train_step(model, optimizer, ids, targets),
        lambda: nnx.state((model, optimizer)),
    )


def transformer_decode(size: str) -> Case:
    cfg = SIZES[size]
    model = Transformer(cfg, decode=True, rngs=nnx.Rngs(0))

    @nnx.jit
    def decode_step(model: Any, ids: jax.Array, position: jax.Array) -> jax.Array:
        return jnp.argmax(model(ids, position), axis=-1).astype(jnp.int32)

    def run() -> jax.Array:
        model.init_caches()
        return greedy(lambda ids, position: decode_step(model, ids, position), cfg).sum()

    return Case(run, lambda: None)
