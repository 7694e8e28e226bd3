"""Save and restore through nnx-checkpoint against orbax used directly on a pure dict.

``python -m benchmarks.checkpoint [--million 100] [--rounds 3]``: a model of float32
Params (``--million`` millions of them: 100 M is 400 MB), written and read back once per
round by both paths into fresh directories; the median of the rounds is reported with
the ratio ours / orbax and the throughput in MB/s. Nothing asserts on a timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

import nnx
from nnx_checkpoint import restore, save

WIDTH = 2000  # 4M parameters (16 MB) per layer


class Stack(nnx.Module):
    def __init__(self, layers: int) -> None:
        keys = jax.random.split(jax.random.key(0), layers)
        self.layers = nnx.List(
            [nnx.Param(jax.random.normal(k, (WIDTH, WIDTH), jnp.float32)) for k in keys]
        )


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    result = fn(*args)
    jax.block_until_ready(
        jax.tree.leaves(nnx.state(result) if isinstance(result, nnx.Object) else result)
    )
    return time.perf_counter() - start


def orbax_save(orbax: ocp.StandardCheckpointer, path: str, pure: object) -> None:
    orbax.save(path, pure)
    orbax.wait_until_finished()  # ours blocks until the checkpoint is on disk: so must this


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--million", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    layers = max(1, args.million // (WIDTH * WIDTH // 1_000_000))
    model = Stack(layers)
    pure = nnx.to_pure_dict(nnx.state(model))
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), pure
    )
    megabytes = sum(a.nbytes for a in jax.tree.leaves(pure)) / 1e6
    root = tempfile.mkdtemp(prefix="nnx-ckpt-bench-")
    orbax = ocp.StandardCheckpointer()
    times: dict[str, list[float]] = {
        k: [] for k in ("ours save", "orbax save", "ours restore", "orbax restore")
    }
    for index in range(args.rounds):
        ours_path, orbax_path = f"{root}/ours{index}", f"{root}/orbax{index}"

        runs = [
            ("orbax save", orbax_save, orbax, orbax_path, pure),
            ("ours save", save, ours_path, model),
            ("orbax restore", orbax.restore, orbax_path, abstract),
            ("ours restore", restore, ours_path, model),
        ]
        if index % 2:  # alternate who goes first, so the page cache favours neither
            runs = [runs[1], runs[0], runs[3], runs[2]]
        for name, fn, *fn_args in runs:
            times[name].append(timed(fn, *fn_args))
        shutil.rmtree(ours_path)
        shutil.rmtree(orbax_path)
    shutil.rmtree(root)
    median = {k: statistics.median(v) for k, v in times.items()}
    if os.environ.get("VERBOSE"):
        print({k: [round(t, 2) for t in v] for k, v in times.items()})
    print(f"{megabytes:.0f} MB of float32 Params, {layers} arrays, median of {args.rounds} rounds")
    for op in ("save", "restore"):
        ours, theirs = median[f"ours {op}"], median[f"orbax {op}"]
        print(
            f"{op:8s} ours {ours:6.2f} s ({megabytes / ours:6.0f} MB/s)   orbax {theirs:6.2f} s "
            f"({megabytes / theirs:6.0f} MB/s)   ratio {ours / theirs:.2f}"
        )


if __name__ == "__main__":
    main()
