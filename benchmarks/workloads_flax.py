"""The benchmark MLP in Flax NNX 0.12.8, three ways.

1. ``@nnx.jit`` with its defaults: what the Flax tutorial teaches, the same code as ours.
2. ``nnx.cached_partial(train_step, model, optimizer)``: the first remedy Flax's
   "Performance considerations" guide documents; it caches the graph traversal of the
   partially applied objects.
3. The guide's "functional training loop": ``nnx.split`` once, then a plain ``jax.jit``
   step that merges, trains and returns the new state; the objects are updated only when
   needed (here: never inside the timed loop, as the guide does).

Flax 0.12 spells two things differently from the tutorial API: ``nnx.Optimizer`` needs
``wrt=nnx.Param`` and its ``update`` takes the model (``optimizer.update(model, grads)``),
and a list of sub-modules is held in an ``nnx.List``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from benchmarks.timing import Case
from benchmarks.transformer import LEARNING_RATE as TRANSFORMER_LR
from benchmarks.transformer import SIZES, define_transformer, tokens
from benchmarks.transformer import loss as lm_loss
from benchmarks.workload import LEARNING_RATE, batch, define_mlp, mse

MLP = define_mlp(nnx, make_list=nnx.List)


def build(depth: int) -> tuple[Any, Any]:
    model = MLP(depth, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)
    return model, optimizer


def loss_and_update(model: Any, optimizer: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    def loss_fn(model: Any) -> jax.Array:
        return mse(model(x), y)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


def train(depth: int) -> Case:
    model, optimizer = build(depth)
    x, y = batch()
    train_step = nnx.jit(loss_and_update)
    return Case(
        lambda: train_step(model, optimizer, x, y),
        lambda: nnx.state((model, optimizer)),
    )


def train_pytree(depth: int) -> Case:
    """Plain ``jax.jit`` on the model and optimizer as pytrees (flax 0.12's tree mode)."""
    model, optimizer = build(depth)
    x, y = batch()

    @jax.jit
    def train_step(model: Any, optimizer: Any, x: jax.Array, y: jax.Array) -> Any:
        loss = loss_and_update(model, optimizer, x, y)
        return loss, model, optimizer

    held = [model, optimizer]

    def step() -> jax.Array:
        loss, held[0], held[1] = train_step(held[0], held[1], x, y)
        return loss

    return Case(step, lambda: nnx.state(held[0]))


def train_cached(depth: int) -> Case:
    model, optimizer = build(depth)
    x, y = batch()
    cached_step = nnx.cached_partial(nnx.jit(loss_and_update), model, optimizer)
    return Case(
        lambda: cached_step(x, y),
        lambda: nnx.state((model, optimizer)),
    )


def train_functional(depth: int) -> Case:
    graphdef, state = nnx.split(build(depth))
    held = {"state": state}
    x, y = batch()

    @jax.jit
    def jax_train_step(graphdef: Any, state: Any, x: jax.Array, y: jax.Array) -> Any:
        model, optimizer = nnx.merge(graphdef, state)
        loss = loss_and_update(model, optimizer, x, y)
        return loss, nnx.state((model, optimizer))

    def step() -> jax.Array:
        loss, held["state"] = jax_train_step(graphdef, held["state"], x, y)
        return loss

    return Case(step, lambda: held["state"])


def _empty_step(model: Any, optimizer: Any) -> jax.Array:
    return jnp.zeros((), jnp.float32)


def empty(depth: int) -> Case:
    model, optimizer = build(depth)
    empty_step = nnx.jit(_empty_step)
    return Case(lambda: empty_step(model, optimizer), lambda: None)


def empty_pytree(depth: int) -> Case:
    """Plain ``jax.jit`` taking the model and optimizer as pytrees, doing nothing."""
    model, optimizer = build(depth)
    empty_step = jax.jit(_empty_step)
    return Case(lambda: empty_step(model, optimizer), lambda: None)


def empty_cached(depth: int) -> Case:
    empty_step = nnx.cached_partial(nnx.jit(_empty_step), *build(depth))
    return Case(empty_step, lambda: None)


def empty_functional(depth: int) -> Case:
    graphdef, state = nnx.split(build(depth))
    empty_step = jax.jit(lambda graphdef, state: jnp.zeros((), jnp.float32))
    return Case(lambda: empty_step(graphdef, state), lambda: None)


def split_merge(depth: int) -> tuple[Any, Any]:
    """``(split, merge)`` callables over this depth's (model, optimizer)."""
    model, optimizer = build(depth)
    graphdef, state = nnx.split((model, optimizer))
    return (lambda: nnx.split((model, optimizer))), (lambda: nnx.merge(graphdef, state))


Transformer = define_transformer(nnx, make_list=nnx.List)


def _transformer_setup(size: str) -> tuple[Any, Any, jax.Array, jax.Array, Any]:
    cfg = SIZES[size]
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(TRANSFORMER_LR), wrt=nnx.Param)
    ids, targets = tokens(cfg)
    positions = jnp.arange(cfg.seq)[None]

    def train_step(model: Any, optimizer: Any, ids: jax.Array, targets: jax.Array) -> jax.Array:
        def loss_fn(model: Any) -> jax.Array:
            return lm_loss(model(ids, positions), targets)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return model, optimizer, ids, targets, train_step


def transformer_train(size: str) -> Case:
    model, optimizer, ids, targets, train_step = _transformer_setup(size)
    step = nnx.jit(train_step)
    return Case(
        lambda: step(model, optimizer, ids, targets),
        lambda: nnx.state((model, optimizer)),
    )


def transformer_train_cached(size: str) -> Case:
    model, optimizer, ids, targets, train_step = _transformer_setup(size)
    cached_step = nnx.cached_partial(nnx.jit(train_step), model, optimizer)
    return Case(lambda: cached_step(ids, targets), lambda: nnx.state((model, optimizer)))
