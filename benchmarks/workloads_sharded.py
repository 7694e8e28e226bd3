"""The benchmark transformer sharded over 8 devices: ``nnx.jit`` against pure JAX.

Both variants train the same parameters with the same shardings, so the ratio is what
``nnx.jit`` adds to a sharded step (splitting, the fast path, writing back), not a
difference in layout. The model is ``transformer.py``'s with logical axis names on every
parameter; ``RULES`` map them onto a ``data`` x ``model`` mesh (data parallel, weights
fully sharded over ``data``, tensor parallel over ``model``), and it is created inside
``nnx.jit`` so every parameter is born on its shards. The pure JAX variant takes those very
arrays as its parameter dict (``to_pure_dict``), its optax state from ``TX.init`` on them,
and one ``jax.jit`` step (``workloads_jax_transformer.train_step``); the batch is split
over ``data`` for both. A third variant runs our model's own step under a plain
``jax.jit`` (split once, merge inside): the same program as ``nnx.jit``'s.

Full size: a 2 x 4 mesh. Smoke size (2 heads): a 2 x 2 mesh on 4 of the devices.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import optax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import nnx
from benchmarks.timing import Case
from benchmarks.transformer import LEARNING_RATE, SIZES, Config, loss, tokens
from benchmarks.workloads_jax_transformer import TX, train_step

RULES = (
    ("batch", "data"),
    ("embed", "data"),
    ("mlp", "model"),
    ("heads", "model"),
    ("vocab", "model"),
    ("kv", None),
    ("seq", None),
)
MESHES = {"full": (2, 4), "smoke": (2, 2)}


def make_mesh(size: str) -> jax.sharding.Mesh:
    shape = MESHES[size]
    count = shape[0] * shape[1]
    if jax.device_count() < count:
        raise RuntimeError(
            f"needs {count} devices, found {jax.device_count()}: set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as make bench does)"
        )
    return jax.make_mesh(
        shape, ("data", "model"), axis_types=(AxisType.Auto,) * 2, devices=jax.devices()[:count]
    )


def _named(init: Any, *names: str | None) -> Any:
    return nnx.with_partitioning(init, names)


class Block(nnx.Module):
    def __init__(self, cfg: Config, *, rngs: nnx.Rngs) -> None:
        d, zeros, ones = cfg.d_model, nnx.initializers.zeros, nnx.initializers.ones
        dense = nnx.initializers.lecun_normal()
        norm = {"scale_init": _named(ones, "embed"), "bias_init": _named(zeros, "embed")}
        self.ln1 = nnx.LayerNorm(d, **norm, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(
            cfg.heads,
            d,
            kernel_init=_named(dense, "embed", "heads", "kv"),
            out_kernel_init=_named(dense, "heads", "kv", "embed"),
            bias_init=_named(zeros, "heads", "kv"),
            out_bias_init=_named(zeros, "embed"),
            decode=False,
            deterministic=True,
            rngs=rngs,
        )
        self.ln2 = nnx.LayerNorm(d, **norm, rngs=rngs)
        self.up = nnx.Linear(
            d,
            4 * d,
            kernel_init=_named(dense, "embed", "mlp"),
            bias_init=_named(zeros, "mlp"),
            rngs=rngs,
        )
        self.down = nnx.Linear(
            4 * d,
            d,
            kernel_init=_named(dense, "mlp", "embed"),
            bias_init=_named(zeros, "embed"),
            rngs=rngs,
        )

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.down(nnx.gelu(self.up(self.ln2(x))))


class Transformer(nnx.Module):
    """``transformer.define_transformer``'s model (same layout), with logical names."""

    def __init__(self, cfg: Config, *, rngs: nnx.Rngs) -> None:
        embed = nnx.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
        self.tok = nnx.Embed(
            cfg.vocab, cfg.d_model, embedding_init=_named(embed, "vocab", "embed"), rngs=rngs
        )
        self.pos = nnx.Embed(
            cfg.seq, cfg.d_model, embedding_init=_named(embed, "seq", "embed"), rngs=rngs
        )
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.blocks)])
        self.ln_f = nnx.LayerNorm(
            cfg.d_model,
            scale_init=_named(nnx.initializers.ones, "embed"),
            bias_init=_named(nnx.initializers.zeros, "embed"),
            rngs=rngs,
        )
        self.head = nnx.Linear(
            cfg.d_model,
            cfg.vocab,
            kernel_init=_named(nnx.initializers.lecun_normal(), "embed", "vocab"),
            bias_init=_named(nnx.initializers.zeros, "vocab"),
            rngs=rngs,
        )

    def __call__(self, ids: jax.Array, positions: jax.Array) -> jax.Array:
        x = self.tok(ids) + self.pos(positions)
        mask = nnx.make_causal_mask(ids)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


@partial(nnx.jit, static_argnums=0)
def create(cfg: Config) -> nnx.Optimizer:
    """Model and optimizer born sharded: built inside jit, each value on its shards."""
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(LEARNING_RATE), wrt=nnx.Param)
    state = nnx.state(optimizer)
    nnx.update(optimizer, jax.lax.with_sharding_constraint(state, nnx.get_partition_spec(state)))
    return optimizer


def build(size: str) -> tuple[nnx.Optimizer, jax.Array, jax.Array, jax.sharding.Mesh]:
    """The sharded optimizer (holding the model) and the batch split over ``data``."""
    cfg = SIZES[size]
    mesh = make_mesh(size)
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        optimizer = create(cfg)
        rows = NamedSharding(mesh, PartitionSpec(*nnx.apply_axis_rules(("batch", None))))
    ids, targets = (jax.device_put(x, rows) for x in tokens(cfg))
    return optimizer, ids, targets, mesh


def step_body(optimizer: nnx.Optimizer, ids: jax.Array, targets: jax.Array) -> jax.Array:
    positions = jax.numpy.arange(ids.shape[1])[None]

    def loss_fn(model: Transformer) -> jax.Array:
        return loss(model(ids, positions), targets)

    value, grads = nnx.value_and_grad(loss_fn)(optimizer.model)
    optimizer.update(optimizer.model, grads)
    return value


nnx_step = nnx.jit(step_body)


def sharded_train(size: str) -> Case:
    """``nnx.jit`` on the sharded Optimizer: the tutorial's step, nothing sharding-specific."""
    optimizer, ids, targets, _ = build(size)
    return Case(
        lambda: nnx_step(optimizer, ids, targets), lambda: nnx.state(optimizer.model, nnx.Param)
    )


def sharded_train_jax(size: str) -> Case:
    """One ``jax.jit`` step on a dict of the same sharded arrays."""
    optimizer, ids, targets, _ = build(size)
    params = nnx.state(optimizer.model, nnx.Param).to_pure_dict()
    held = {
        "state": {
            "params": params,
            "opt_state": TX.init(params),  # eager: each moment keeps its parameter's sharding
            "step": jax.numpy.uint32(0),
        }
    }
    step_fn = jax.jit(train_step)

    def step() -> jax.Array:
        value, held["state"] = step_fn(held["state"], ids, targets)
        return value

    return Case(step, lambda: held["state"]["params"])


def sharded_train_functional(size: str) -> Case:
    """Our model's very step under a plain ``jax.jit`` on its State (split once, merge inside).

    The same program as ``nnx.jit``'s, so its ratio to ``nnx.jit`` is only the per-call
    bookkeeping; ``workloads_jax_transformer``'s math differs (its own embedding lookup and
    attention), which XLA partitions differently.
    """
    optimizer, ids, targets, _ = build(size)
    graphdef, state = nnx.split(optimizer)

    @jax.jit
    def pure_step(state: Any, ids: jax.Array, targets: jax.Array) -> tuple[jax.Array, Any]:
        inner = nnx.merge(graphdef, state)
        value = step_body(inner, ids, targets)
        return value, nnx.state(inner)

    held = {"state": state}

    def step() -> jax.Array:
        value, held["state"] = pure_step(held["state"], ids, targets)
        return value

    return Case(step, lambda: held["state"])
