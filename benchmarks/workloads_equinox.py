"""The benchmark MLP in Equinox, the way its documentation writes a stateful model.

``eqx.nn.BatchNorm`` keeps its running statistics in an ``eqx.nn.State`` and computes
batch statistics over a named ``vmap`` axis, so the model runs per example under
``jax.vmap(..., axis_name="batch")``. ``mode="batch"`` is the variant that normalises with
the batch statistics and updates running averages, as the NNX BatchNorm does. Dropout gets
its key explicitly; the key is split once per step. The step is one ``eqx.filter_jit``
that returns the new model, state, optimizer state and key.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from benchmarks.timing import Case
from benchmarks.workload import (
    BN_EPSILON,
    BN_MOMENTUM,
    DROPOUT_RATE,
    LEARNING_RATE,
    batch,
    layer_sizes,
    mse,
)

TX = optax.adam(LEARNING_RATE)


class MLP(eqx.Module):
    linears: list[eqx.nn.Linear]
    norms: list[eqx.nn.BatchNorm]
    dropout: eqx.nn.Dropout

    def __init__(self, depth: int, key: jax.Array) -> None:
        sizes = layer_sizes(depth)
        keys = jax.random.split(key, len(sizes))
        self.linears = [eqx.nn.Linear(a, b, key=k) for (a, b), k in zip(sizes, keys, strict=True)]
        self.norms = [
            eqx.nn.BatchNorm(b, "batch", eps=BN_EPSILON, momentum=BN_MOMENTUM, mode="batch")
            for _, b in sizes
        ]
        self.dropout = eqx.nn.Dropout(DROPOUT_RATE)

    def __call__(
        self, x: jax.Array, state: eqx.nn.State, key: jax.Array
    ) -> tuple[jax.Array, eqx.nn.State]:
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            x, state = norm(linear(x), state)
            x = jax.nn.relu(x)
            if i == 0:
                x = self.dropout(x, key=key)
        return x, state


def build(depth: int) -> tuple[MLP, eqx.nn.State, Any, jax.Array]:
    model, state = eqx.nn.make_with_state(MLP)(depth, jax.random.key(0))
    opt_state = TX.init(eqx.filter(model, eqx.is_inexact_array))
    return model, state, opt_state, jax.random.key(1)


@eqx.filter_jit
def train_step(
    model: MLP, state: eqx.nn.State, opt_state: Any, key: jax.Array, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, MLP, eqx.nn.State, Any, jax.Array]:
    key, dropout_key = jax.random.split(key)

    def loss_fn(model: MLP, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        forward = jax.vmap(model, axis_name="batch", in_axes=(0, None, None), out_axes=(0, None))
        pred, state = forward(x, state, dropout_key)
        return mse(pred, y), state

    (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, state)
    updates, opt_state = TX.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    model = eqx.apply_updates(model, updates)
    return loss, model, state, opt_state, key


def train(depth: int) -> Case:
    held = list(build(depth))
    x, y = batch()

    def step() -> jax.Array:
        loss, *held[:] = train_step(*held, x, y)
        return loss

    return Case(step, lambda: held)


@eqx.filter_jit
def empty_step(model: MLP, state: eqx.nn.State, opt_state: Any, key: jax.Array) -> jax.Array:
    return jnp.zeros((), jnp.float32)


def empty(depth: int) -> Case:
    held = build(depth)
    return Case(lambda: empty_step(*held), lambda: None)
