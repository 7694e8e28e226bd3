"""The benchmark MLP in pure JAX: everything in one dict, one ``jax.jit`` step.

This is the baseline every other variant is divided by: the same math with no object
model at all, written the way the NNX layers compute it (lecun-normal kernels, BatchNorm
with the biased ``E[x^2] - E[x]^2`` variance and momentum 0.99, dropout keys drawn as
``fold_in(key, count)``, an optax adam state over the parameters and a uint32 step count).
"""

from __future__ import annotations

from typing import Any

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

Tree = dict[str, Any]

TX = optax.adam(LEARNING_RATE)


def init_state(depth: int, seed: int = 0) -> Tree:
    # Keys are drawn as ``nnx.Rngs(seed)`` draws them for ``workload.define_mlp``, so this
    # baseline starts from the very same numbers as ours and the tests can compare losses:
    # one ``fold_in(key, count)`` per draw; the Linears are built first and draw two keys
    # each (kernel, bias), then the BatchNorms two each (scale, bias); dropout draws next.
    key = jax.random.key(seed)
    params, stats = [], []
    kernel_init = jax.nn.initializers.lecun_normal()
    for i, (din, dout) in enumerate(layer_sizes(depth)):
        params.append(
            {
                "kernel": kernel_init(jax.random.fold_in(key, 2 * i), (din, dout), jnp.float32),
                "bias": jnp.zeros((dout,), jnp.float32),
                "scale": jnp.ones((dout,), jnp.float32),
                "offset": jnp.zeros((dout,), jnp.float32),
            }
        )
        stats.append(
            {"mean": jnp.zeros((dout,), jnp.float32), "var": jnp.ones((dout,), jnp.float32)}
        )
    return {
        "params": params,
        "batch_stats": stats,
        "rng": {"key": key, "count": jnp.array(4 * depth, jnp.uint32)},
        "opt_state": TX.init(params),
        "step": jnp.array(0, jnp.uint32),
    }


def forward(
    params: list[Tree], stats: list[Tree], dropout_key: jax.Array, x: jax.Array
) -> tuple[jax.Array, list[Tree]]:
    new_stats = []
    for i, (p, s) in enumerate(zip(params, stats, strict=True)):
        x = x @ p["kernel"] + p["bias"]
        mean = jnp.mean(x, axis=0)
        var = jnp.maximum(0.0, jnp.mean(x * x, axis=0) - mean * mean)
        x = (x - mean) * jax.lax.rsqrt(var + BN_EPSILON) * p["scale"] + p["offset"]
        new_stats.append(
            {
                "mean": BN_MOMENTUM * s["mean"] + (1 - BN_MOMENTUM) * mean,
                "var": BN_MOMENTUM * s["var"] + (1 - BN_MOMENTUM) * var,
            }
        )
        x = jax.nn.relu(x)
        if i == 0:
            keep = jax.random.bernoulli(dropout_key, 1 - DROPOUT_RATE, x.shape)
            x = jnp.where(keep, x / (1 - DROPOUT_RATE), 0.0)
    return x, new_stats


def train_step(state: Tree, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Tree]:
    rng = state["rng"]
    dropout_key = jax.random.fold_in(rng["key"], rng["count"])

    def loss_fn(params: list[Tree]) -> tuple[jax.Array, list[Tree]]:
        pred, new_stats = forward(params, state["batch_stats"], dropout_key, x)
        return mse(pred, y), new_stats

    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    updates, opt_state = TX.update(grads, state["opt_state"], state["params"])
    return loss, {
        "params": optax.apply_updates(state["params"], updates),
        "batch_stats": new_stats,
        "rng": {"key": rng["key"], "count": rng["count"] + 1},
        "opt_state": opt_state,
        "step": state["step"] + 1,
    }


def train(depth: int) -> Case:
    held = {"state": init_state(depth)}
    x, y = batch()
    step_fn = jax.jit(train_step)

    def step() -> jax.Array:
        loss, held["state"] = step_fn(held["state"], x, y)
        return loss

    return Case(step, lambda: held["state"])


def empty(depth: int) -> Case:
    state = init_state(depth)
    step_fn = jax.jit(lambda state: jnp.zeros((), jnp.float32))
    return Case(lambda: step_fn(state), lambda: None)
