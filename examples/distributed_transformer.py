"""Train a small decoder transformer sharded over every device of every process.

The parallelism is chosen by two things only: the mesh (``--data`` x ``--model``
devices) and the logical axis rules below, which map the names the model's parameters
carry (``'embed'``, ``'mlp'``, ...) to mesh axes. ``'batch'`` and ``'embed'`` go to the
``data`` axis (data parallelism, with every weight also split over it: fully sharded),
``'mlp'``, ``'heads'`` and ``'vocab'`` to the ``model`` axis (tensor parallelism). The
training code has no collective and no process id in it.

Run it on one process (8 simulated devices)::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/distributed_transformer.py

or on 2 processes of 4 devices each, exactly the same script::

    python -m nnx_distributed.launch --processes 2 --devices-per-process 4 \
        examples/distributed_transformer.py --checkpoint-dir /tmp/ckpt

On a GPU cluster or a TPU pod, start one process per host the cluster's way, call
``jax.distributed.initialize()`` where ``nnx_distributed.initialize()`` is, and pick a
mesh that fits the hardware (``--data``, ``--model``): nothing else changes.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import nnx
import nnx_distributed

# Logical name -> mesh axis. Changing a line here changes the parallelism, not the model.
RULES = (
    ("batch", "data"),  # each data-parallel group trains on its own rows
    ("embed", "data"),  # fully sharded: weights are split over the data axis too
    ("mlp", "model"),  # tensor parallel MLP
    ("heads", "model"),  # tensor parallel attention
    ("vocab", "model"),
    ("kv", None),
    ("seq", None),
)


@dataclass(frozen=True)
class Config:
    vocab: int = 64
    d_model: int = 32
    heads: int = 4
    blocks: int = 2
    seq: int = 16
    batch: int = 8  # the global batch, over all processes


def sharded(init: Callable[..., jax.Array], *names: str | None) -> Callable[..., jax.Array]:
    """``init`` whose parameter carries logical axis names (mapped by ``RULES``)."""
    return nnx.with_partitioning(init, names)


class Block(nnx.Module):
    def __init__(self, cfg: Config, *, rngs: nnx.Rngs) -> None:
        d, zeros, ones = cfg.d_model, nnx.initializers.zeros, nnx.initializers.ones
        dense = nnx.initializers.lecun_normal()
        self.ln1 = nnx.LayerNorm(
            d, scale_init=sharded(ones, "embed"), bias_init=sharded(zeros, "embed"), rngs=rngs
        )
        self.attn = nnx.MultiHeadAttention(
            cfg.heads,
            d,
            kernel_init=sharded(dense, "embed", "heads", "kv"),
            out_kernel_init=sharded(dense, "heads", "kv", "embed"),
            bias_init=sharded(zeros, "heads", "kv"),
            out_bias_init=sharded(zeros, "embed"),
            decode=False,
            deterministic=True,
            rngs=rngs,
        )
        self.ln2 = nnx.LayerNorm(
            d, scale_init=sharded(ones, "embed"), bias_init=sharded(zeros, "embed"), rngs=rngs
        )
        self.up = nnx.Linear(
            d,
            4 * d,
            kernel_init=sharded(dense, "embed", "mlp"),
            bias_init=sharded(zeros, "mlp"),
            rngs=rngs,
        )
        self.down = nnx.Linear(
            4 * d,
            d,
            kernel_init=sharded(dense, "mlp", "embed"),
            bias_init=sharded(zeros, "embed"),
            rngs=rngs,
        )

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.down(nnx.gelu(self.up(self.ln2(x))))


class Transformer(nnx.Module):
    def __init__(self, cfg: Config, *, rngs: nnx.Rngs) -> None:
        embed = nnx.initializers.normal(1.0)
        self.tok = nnx.Embed(
            cfg.vocab, cfg.d_model, embedding_init=sharded(embed, "vocab", "embed"), rngs=rngs
        )
        self.pos = nnx.Embed(
            cfg.seq, cfg.d_model, embedding_init=sharded(embed, "seq", "embed"), rngs=rngs
        )
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.blocks)])
        self.ln_f = nnx.LayerNorm(
            cfg.d_model,
            scale_init=sharded(nnx.initializers.ones, "embed"),
            bias_init=sharded(nnx.initializers.zeros, "embed"),
            rngs=rngs,
        )
        self.head = nnx.Linear(
            cfg.d_model,
            cfg.vocab,
            kernel_init=sharded(nnx.initializers.lecun_normal(), "embed", "vocab"),
            bias_init=sharded(nnx.initializers.zeros, "vocab"),
            rngs=rngs,
        )

    def __call__(self, ids: jax.Array) -> jax.Array:
        x = self.tok(ids) + self.pos(jnp.arange(ids.shape[1])[None])
        mask = nnx.make_causal_mask(ids)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


@partial(nnx.jit, static_argnums=0)
def create(cfg: Config) -> nnx.Optimizer:
    """The model and its optimizer, born sharded: every value is built inside ``jit``.

    Each parameter is placed by its logical names as it is created (eager sharding under
    the mesh set by ``jax.set_mesh``), and the optimizer's moments are constrained to the
    same specs, so no process ever materializes a whole parameter.
    """
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-2), wrt=nnx.Param)
    state = nnx.state(optimizer)
    nnx.update(optimizer, jax.lax.with_sharding_constraint(state, nnx.get_partition_spec(state)))
    return optimizer


@nnx.jit
def train_step(optimizer: nnx.Optimizer, ids: jax.Array, targets: jax.Array) -> jax.Array:
    def loss_fn(model: Transformer) -> jax.Array:
        logits = model(ids)
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(optimizer.model)
    optimizer.update(optimizer.model, grads)
    return loss


def global_batch(cfg: Config, step: int) -> np.ndarray:
    """Step ``step``'s token ids, (batch, seq + 1): the same on every process and mesh."""
    # Counting sequences from random starts: learnable, so the loss visibly falls.
    starts = np.random.default_rng(step).integers(0, cfg.vocab, (cfg.batch, 1))
    return ((starts + np.arange(cfg.seq + 1)) % cfg.vocab).astype(np.int32)


def local_batch(cfg: Config, step: int, mesh: jax.sharding.Mesh) -> tuple[jax.Array, jax.Array]:
    """This process's rows of the step's batch, assembled into global sharded arrays.

    Each process reads only the rows its devices hold (here sliced from a synthetic
    batch; a real input pipeline would read only its shard of the data set).
    """
    spec = jax.sharding.PartitionSpec(*nnx.apply_axis_rules(("batch", None)))
    sharding = jax.sharding.NamedSharding(mesh, spec)
    shape = (cfg.batch, cfg.seq)
    rows = [index[0] for index in sharding.addressable_devices_indices_map(shape).values()]
    start = min(r.start or 0 for r in rows)
    stop = max(cfg.batch if r.stop is None else r.stop for r in rows)
    data = global_batch(cfg, step)[start:stop]
    return (
        jax.make_array_from_process_local_data(sharding, data[:, :-1], shape),
        jax.make_array_from_process_local_data(sharding, data[:, 1:], shape),
    )


def shard_report(name: str, value: jax.Array) -> str:
    """What this process holds of ``value``: its shards' shapes and the fraction held."""
    shards = value.addressable_shards
    shapes = sorted({shard.data.shape for shard in shards})
    distinct = {tuple((i.start, i.stop) for i in shard.index) for shard in shards}
    held = len(distinct) * np.prod(shapes[0]) / np.prod(value.shape)
    return f"shard {name} {value.shape} {len(shards)} {shapes} held {held:.3f}"


def make_mesh(
    data: int | None = None, model: int | None = None, devices: int | None = None
) -> jax.sharding.Mesh:
    """A ``data`` x ``model`` mesh over the first ``devices`` devices (default: all)."""
    count = devices or jax.device_count()
    data = data or (2 if count % 2 == 0 else 1)
    model = model or count // data
    auto = (jax.sharding.AxisType.Auto,) * 2
    chosen = jax.devices()[:count]
    return jax.make_mesh((data, model), ("data", "model"), axis_types=auto, devices=chosen)


def train(
    mesh: jax.sharding.Mesh,
    steps: int,
    checkpoint_dir: str | None = None,
    restore: bool = False,
    show_shards: bool = False,
    die_at_step: int | None = None,
    cfg: Config = Config(),
) -> list[float]:
    """Train ``steps`` steps on ``mesh`` (resuming from the last checkpoint); the losses."""
    manager = None
    if checkpoint_dir:
        manager = nnx.checkpoint.CheckpointManager(checkpoint_dir, max_to_keep=2, async_save=False)
    losses = []
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        optimizer = create(cfg)
        first = manager.latest_step() if manager is not None and restore else None
        if first is not None:
            optimizer = manager.restore(first, optimizer)  # straight into this mesh's shards
            print(f"restored step {first} on mesh {dict(mesh.shape)}", flush=True)
        first = first or 0
        if show_shards:
            for path, variable in nnx.to_flat_state(nnx.state(optimizer.model)):
                print(shard_report(".".join(map(str, path)), variable.value), flush=True)
        for step in range(first, first + steps):
            if die_at_step == step and jax.process_index() == 1:
                os.kill(os.getpid(), signal.SIGKILL)  # a host lost mid-run
            loss = float(train_step(optimizer, *local_batch(cfg, step, mesh)))
            losses.append(loss)
            print(f"step {step + 1} loss {loss:.6f}", flush=True)
            if manager is not None:
                manager.save(step + 1, optimizer)  # complete on disk when it returns
    if manager is not None:
        manager.close()
    return losses


def main() -> None:
    nnx_distributed.initialize()  # joins the processes under the launcher; else a no-op
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--data", type=int, default=None, help="data axis size (default 2)")
    parser.add_argument("--model", type=int, default=None, help="model axis size")
    parser.add_argument("--checkpoint-dir", default=None, help="save after every step here")
    parser.add_argument("--restore", action="store_true", help="resume from the last save")
    parser.add_argument("--show-shards", action="store_true", help="print local shard shapes")
    parser.add_argument("--die-at-step", type=int, default=None, help="(tests) kill process 1")
    args = parser.parse_args()
    train(
        make_mesh(args.data, args.model),
        args.steps,
        args.checkpoint_dir,
        args.restore,
        args.show_shards,
        args.die_at_step,
    )


if __name__ == "__main__":
    main()
