"""The benchmark transformer in pure JAX: parameters in one dict, one ``jax.jit`` step.

The baseline the transformer variants are divided by. The dict has the layout of
``nnx.state(model).to_pure_dict()`` for ``benchmarks.transformer``'s model, so a test can
start it from the very numbers of ours and compare losses and decoded tokens. The math is
the layers' own: LayerNorm with ``E[x^2] - E[x]^2`` variance and epsilon 1e-6, heads of
``d_model // heads`` with queries scaled by ``1/sqrt(head_dim)``, masked logits set to the
dtype's minimum, tanh-approximated GELU. Decoding keeps one (key, value) cache per block
and writes each step at its position with ``lax.dynamic_update_slice``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from benchmarks.timing import Case
from benchmarks.transformer import LEARNING_RATE, SIZES, Config, greedy, loss, tokens

Tree = dict[Any, Any]
TX = optax.adamw(LEARNING_RATE)
EPSILON = 1e-6


def init_params(cfg: Config, seed: int = 0) -> Tree:
    d, h = cfg.d_model, cfg.heads
    keys = iter(jax.random.split(jax.random.key(seed), 4 + 6 * cfg.blocks))

    def normal(shape: tuple[int, ...], fan_in: int) -> jax.Array:
        return jax.random.normal(next(keys), shape, jnp.float32) / jnp.sqrt(fan_in)

    def norm() -> Tree:
        return {"scale": jnp.ones((d,)), "bias": jnp.zeros((d,))}

    def dense(shape: tuple[int, ...], fan_in: int, bias: tuple[int, ...]) -> Tree:
        return {"kernel": normal(shape, fan_in), "bias": jnp.zeros(bias)}

    blocks = {
        i: {
            "ln1": norm(),
            "attn": {
                **{n: dense((d, h, d // h), d, (h, d // h)) for n in ("query", "key", "value")},
                "out": dense((h, d // h, d), d, (d,)),
            },
            "ln2": norm(),
            "up": dense((d, 4 * d), d, (4 * d,)),
            "down": dense((4 * d, d), 4 * d, (d,)),
        }
        for i in range(cfg.blocks)
    }
    return {
        "tok": {"embedding": normal((cfg.vocab, d), 1)},
        "pos": {"embedding": normal((cfg.seq, d), 1)},
        "blocks": blocks,
        "ln_f": norm(),
        "head": dense((d, cfg.vocab), d, (cfg.vocab,)),
    }


def layer_norm(p: Tree, x: jax.Array) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.maximum(0.0, jnp.mean(x * x, axis=-1, keepdims=True) - mean * mean)
    return (x - mean) * jax.lax.rsqrt(var + EPSILON) * p["scale"] + p["bias"]


def project(p: Tree, x: jax.Array) -> jax.Array:
    return jnp.einsum("bld,dhk->blhk", x, p["kernel"]) + p["bias"]


def attend(p: Tree, q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    q = q / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k)
    logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)
    return jnp.einsum("bqhd,hdo->bqo", out, p["out"]["kernel"]) + p["out"]["bias"]


def mlp(p: Tree, x: jax.Array) -> jax.Array:
    h = jax.nn.gelu(layer_norm(p["ln2"], x) @ p["up"]["kernel"] + p["up"]["bias"])
    return x + h @ p["down"]["kernel"] + p["down"]["bias"]


def forward(params: Tree, ids: jax.Array, positions: jax.Array) -> jax.Array:
    x = params["tok"]["embedding"][ids] + params["pos"]["embedding"][positions]
    length = ids.shape[1]
    mask = jnp.tril(jnp.ones((length, length), bool))[None, None]
    for i in range(len(params["blocks"])):
        p = params["blocks"][i]
        y = layer_norm(p["ln1"], x)
        a = p["attn"]
        x = x + attend(
            a, project(a["query"], y), project(a["key"], y), project(a["value"], y), mask
        )
        x = mlp(p, x)
    return layer_norm(params["ln_f"], x) @ params["head"]["kernel"] + params["head"]["bias"]


def train_step(state: Tree, ids: jax.Array, targets: jax.Array) -> tuple[jax.Array, Tree]:
    positions = jnp.arange(ids.shape[1])[None]

    def loss_fn(params: Tree) -> jax.Array:
        return loss(forward(params, ids, positions), targets)

    value, grads = jax.value_and_grad(loss_fn)(state["params"])
    updates, opt_state = TX.update(grads, state["opt_state"], state["params"])
    return value, {
        "params": optax.apply_updates(state["params"], updates),
        "opt_state": opt_state,
        "step": state["step"] + 1,
    }


def transformer_train(size: str, params: Tree | None = None) -> Case:
    cfg = SIZES[size]
    params = init_params(cfg) if params is None else params
    held = {"state": {"params": params, "opt_state": TX.init(params), "step": jnp.uint32(0)}}
    ids, targets = tokens(cfg)
    step_fn = jax.jit(train_step)

    def step() -> jax.Array:
        value, held["state"] = step_fn(held["state"], ids, targets)
        return value

    return Case(step, lambda: held["state"])


def decode_step(
    params: Tree, caches: list[Tree], ids: jax.Array, position: jax.Array
) -> tuple[jax.Array, list[Tree]]:
    """One token through every block, each reading and extending its cache."""
    x = params["tok"]["embedding"][ids] + params["pos"]["embedding"][position]
    index = position[0, 0]
    new_caches = []
    for i, cache in enumerate(caches):
        p = params["blocks"][i]
        y = layer_norm(p["ln1"], x)
        a = p["attn"]
        keys = jax.lax.dynamic_update_slice(cache["key"], project(a["key"], y), (0, index, 0, 0))
        values = jax.lax.dynamic_update_slice(
            cache["value"], project(a["value"], y), (0, index, 0, 0)
        )
        mask = (jnp.arange(keys.shape[1]) <= index)[None, None, None]
        x = x + attend(a, project(a["query"], y), keys, values, mask)
        x = mlp(p, x)
        new_caches.append({"key": keys, "value": values})
    logits = layer_norm(params["ln_f"], x) @ params["head"]["kernel"] + params["head"]["bias"]
    return jnp.argmax(logits, axis=-1).astype(jnp.int32), new_caches


def transformer_decode(size: str, params: Tree | None = None) -> Case:
    cfg = SIZES[size]
    params = init_params(cfg) if params is None else params
    step_fn = jax.jit(decode_step)
    shape = (cfg.batch, cfg.seq, cfg.heads, cfg.d_model // cfg.heads)

    def run() -> jax.Array:
        held = {"caches": [{"key": jnp.zeros(shape), "value": jnp.zeros(shape)}] * cfg.blocks}

        def step(ids: jax.Array, position: jax.Array) -> jax.Array:
            ids, held["caches"] = step_fn(params, held["caches"], ids, position)
            return ids

        return greedy(step, cfg).sum()

    return Case(run, lambda: None)
