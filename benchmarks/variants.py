"""Which variants exist, under which label, and how to build one without crashing the run.

Each variant is named by its module and function, and imported only when built: a library
that is missing or broken (``nnx`` while its transforms are still being written) costs
that one variant, with the reason printed, and the rest of the run goes on.
"""

from __future__ import annotations

import importlib
import math
import traceback
from collections.abc import Callable
from typing import Any

import jax

from benchmarks.timing import Case, warm_up

BASELINE = "jax.jit"
OURS = "nnx.jit (ours)"

# label -> (module under benchmarks/, function building the case at a depth)
TRAIN: dict[str, tuple[str, str]] = {
    BASELINE: ("workloads_jax", "train"),
    OURS: ("workloads_nnx", "train"),
    "flax nnx.jit": ("workloads_flax", "train"),
    "flax cached_partial": ("workloads_flax", "train_cached"),
    "flax split/merge+jax.jit": ("workloads_flax", "train_functional"),
    "jax.jit on the module (ours)": ("workloads_nnx", "train_pytree"),
    "flax jax.jit on the module": ("workloads_flax", "train_pytree"),
    "equinox filter_jit": ("workloads_equinox", "train"),
}
EMPTY: dict[str, tuple[str, str]] = {
    BASELINE: ("workloads_jax", "empty"),
    OURS: ("workloads_nnx", "empty"),
    "flax nnx.jit": ("workloads_flax", "empty"),
    "flax cached_partial": ("workloads_flax", "empty_cached"),
    "flax split/merge+jax.jit": ("workloads_flax", "empty_functional"),
    "jax.jit on the module (ours)": ("workloads_nnx", "empty_pytree"),
    "flax jax.jit on the module": ("workloads_flax", "empty_pytree"),
    "equinox filter_jit": ("workloads_equinox", "empty"),
}
WORKLOADS = {"train": TRAIN, "empty": EMPTY}
# The transformer (benchmarks/transformer.py), built at a size name ("full", "smoke").
TRANSFORMER_TRAIN: dict[str, tuple[str, str]] = {
    BASELINE: ("workloads_jax_transformer", "transformer_train"),
    OURS: ("workloads_nnx", "transformer_train"),
    "flax nnx.jit": ("workloads_flax", "transformer_train"),
    "flax cached_partial": ("workloads_flax", "transformer_train_cached"),
}
TRANSFORMER_DECODE: dict[str, tuple[str, str]] = {
    BASELINE: ("workloads_jax_transformer", "transformer_decode"),
    OURS: ("workloads_nnx", "transformer_decode"),
}
# The transformer with logical axis names, sharded over 8 simulated devices (issue 16).
SHARDED_TRAIN: dict[str, tuple[str, str]] = {
    BASELINE: ("workloads_sharded", "sharded_train_jax"),
    OURS: ("workloads_sharded", "sharded_train"),
    "split/merge+jax.jit (ours)": ("workloads_sharded", "sharded_train_functional"),
}
TRANSFORMER = {
    "transformer train": TRANSFORMER_TRAIN,
    "greedy decode": TRANSFORMER_DECODE,
    "sharded train (8 devices)": SHARDED_TRAIN,
}
# split/merge of (model, optimizer): ours against the library it re-implements.
SPLIT_MERGE: dict[str, str] = {"nnx (ours)": "workloads_nnx", "flax 0.12.8": "workloads_flax"}


def function(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(f"benchmarks.{module}"), name)


def reason(error: BaseException) -> str:
    """One line saying why a variant cannot run, and where it failed."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}{where}"


def build(spec: tuple[str, str], depth: int | str) -> Case:
    return function(*spec)(depth)


def build_warm(spec: tuple[str, str], depth: int | str) -> tuple[Case | None, str | None]:
    """The case built, compiled and checked to compute a finite result; or why not."""
    try:
        case = build(spec, depth)
        warm_up(case)
        out = jax.device_get(case.step())
        jax.block_until_ready(case.sync())
    except Exception as error:  # any failure skips this variant only
        return None, reason(error)
    if not math.isfinite(float(out)):
        return None, f"its step returned {out!r}, not a finite number"
    return case, None
