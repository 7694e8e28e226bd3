"""Run every benchmark and print one report: ``python -m benchmarks.run [--smoke]``.

Sections: the step time of each variant at each depth (train step and empty step), split
and merge of (model, optimizer), import time, and the first call of the train step. The
method is in ``benchmarks/README.md``. Nothing here asserts on a timing: the run reports.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Mapping, Sequence

# Before JAX is imported: the benchmark is a CPU benchmark, and a first call must compile.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The sharded workload spreads over 8 simulated devices (the Makefile sets the same).
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"

from benchmarks import timing, variants
from benchmarks.report import Table, microseconds, milliseconds, ratio

FULL = {
    "depths": [4, 32, 128],
    "steps": 20,
    "rounds": 11,
    "split_depth": 32,
    "repeats": 5,
    "transformer": "full",
}
SMOKE = {
    "depths": [2],
    "steps": 3,
    "rounds": 2,
    "split_depth": 2,
    "repeats": 1,
    "transformer": "smoke",
}

IMPORTS = {
    "python -c pass": "pass",
    "import jax, optax": "import jax, optax",
    "import nnx": "import nnx",
    "from flax import nnx": "from flax import nnx",
}
FIRST_CALL = [variants.BASELINE, variants.OURS, "flax nnx.jit"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few steps")
    parser.add_argument("--depths", type=int, nargs="+", help="MLP depths (default 4 32 128)")
    parser.add_argument("--steps", type=int, help="steps per variant per round (default 20)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 11)")
    parser.add_argument("--split-depth", type=int, help="depth for split/merge (default 32)")
    parser.add_argument(
        "--first-call-depth", type=int, help="depth for the first call (default: split depth)"
    )
    parser.add_argument("--repeats", type=int, help="fresh processes per command (default 5)")
    parser.add_argument(
        "--transformer", choices=["full", "smoke"], help="transformer size (default full)"
    )
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.first_call_depth is None:
        args.first_call_depth = args.split_depth
    for key in ("steps", "rounds", "split_depth", "first_call_depth", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {getattr(args, key)}")
    if min(args.depths) < 1:
        parser.error(f"--depths must all be at least 1, got {args.depths}")
    return args


def progress(message: str) -> None:
    """What the run is doing, on stderr, so that the report on stdout stays a clean table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def step_times(args: argparse.Namespace, skipped: dict[str, str]) -> Table:
    table = Table(["workload", "depth", "variant", "µs/step", f"vs {variants.BASELINE}"])
    for depth in args.depths:
        for workload, specs in variants.WORKLOADS.items():
            progress(f"depth {depth}, {workload} step: compiling {len(specs)} variants")
            cases, why = {}, {}
            for label, spec in specs.items():
                case, why[label] = variants.build_warm(spec, depth)
                if case is not None:
                    cases[label] = case
            progress(f"depth {depth}, {workload} step: timing {len(cases)} variants")
            samples = timing.interleaved(cases, args.steps, args.rounds)
            base = samples.get(variants.BASELINE)
            for label in specs:
                times = samples.get(label)
                if times is None:
                    skipped.setdefault(f"{workload} {label}", str(why[label]))
                    table.add([workload, depth, label, "skipped", ""])
                    continue
                scale = timing.paired_ratio(times, base) if base else None
                table.add(
                    [workload, depth, label, microseconds(timing.median(times)), ratio(scale)]
                )
            del cases, samples
            gc.collect()
    return table


def transformer_times(args: argparse.Namespace, skipped: dict[str, str]) -> Table:
    """Each transformer workload's variants timed side by side, like ``step_times``."""
    table = Table(["workload", "size", "variant", "ms/call", f"vs {variants.BASELINE}"])
    for workload, specs in variants.TRANSFORMER.items():
        progress(f"{workload} ({args.transformer}): compiling {len(specs)} variants")
        cases, why = {}, {}
        for label, spec in specs.items():
            case, why[label] = variants.build_warm(spec, args.transformer)
            if case is not None:
                cases[label] = case
        progress(f"{workload} ({args.transformer}): timing {len(cases)} variants")
        samples = timing.interleaved(cases, args.steps, args.rounds)
        base = samples.get(variants.BASELINE)
        for label in specs:
            times = samples.get(label)
            if times is None:
                skipped.setdefault(f"{workload} {label}", str(why[label]))
                table.add([workload, args.transformer, label, "skipped", ""])
                continue
            scale = timing.paired_ratio(times, base) if base else None
            row = [workload, args.transformer, label, milliseconds(timing.median(times))]
            table.add([*row, ratio(scale)])
        del cases, samples
        gc.collect()
    return table


def split_merge(args: argparse.Namespace, skipped: dict[str, str]) -> Table:
    calls = {}
    for label, module in variants.SPLIT_MERGE.items():
        try:
            split, merge = variants.function(module, "split_merge")(args.split_depth)
            split(), merge()
        except Exception as error:  # one library failing skips only its column
            skipped.setdefault(f"split/merge {label}", variants.reason(error))
            continue
        calls[f"split {label}"], calls[f"merge {label}"] = split, merge
    samples = timing.interleaved_calls(calls, args.steps, args.rounds)
    ours, flax = variants.SPLIT_MERGE
    table = Table(["op", "depth", f"{ours} µs", f"{flax} µs", "ours / flax"])
    for op in ("split", "merge"):
        a, b = samples.get(f"{op} {ours}"), samples.get(f"{op} {flax}")
        table.add(
            [
                op,
                args.split_depth,
                microseconds(timing.median(a)) if a else "skipped",
                microseconds(timing.median(b)) if b else "skipped",
                ratio(timing.paired_ratio(a, b) if a and b else None),
            ]
        )
    return table


def fresh_process_table(
    title: str,
    samples: Mapping[str, list[float]],
    failed: Mapping[str, str],
    labels: Sequence[str],
    baseline: str,
    skipped: dict[str, str],
    extra: Sequence[object] = (),
) -> Table:
    table = Table([title, *(["depth"] if extra else []), "ms", f"vs {baseline}"])
    base = samples.get(baseline)
    for label in labels:
        times = samples.get(label)
        if times is None:
            skipped.setdefault(f"{title} {label}", failed.get(label, "did not run"))
            table.add([label, *extra, "skipped", ""])
            continue
        scale = timing.median(times) / timing.median(base) if base else None
        table.add([label, *extra, milliseconds(timing.median(times)), ratio(scale)])
    return table


def import_times(args: argparse.Namespace, skipped: dict[str, str]) -> Table:
    commands = {label: [sys.executable, "-c", code] for label, code in IMPORTS.items()}
    samples, failed = timing.fresh_process_times(commands, args.repeats)
    return fresh_process_table(
        "import", samples, failed, list(IMPORTS), "import jax, optax", skipped
    )


def first_calls(args: argparse.Namespace, skipped: dict[str, str]) -> Table:
    depth = str(args.first_call_depth)
    commands = {
        label: [sys.executable, "-m", "benchmarks.first_call", label, depth] for label in FIRST_CALL
    }
    samples, failed = timing.fresh_process_times(commands, args.repeats, self_timed=True)
    return fresh_process_table(
        "first call", samples, failed, FIRST_CALL, variants.BASELINE, skipped, extra=[depth]
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    skipped: dict[str, str] = {}
    sections = [
        (
            "step time",
            f"Step time: median over {args.rounds} interleaved rounds of {args.steps} steps; "
            f"ratio: median of per-round ratios",
            step_times,
        ),
        (
            "transformer",
            f"Transformer (benchmarks/transformer.py): median over {args.rounds} interleaved "
            f"rounds of {args.steps} calls (a train step, or a whole greedy decode); ratio: "
            f"median of per-round ratios",
            transformer_times,
        ),
        (
            "split / merge",
            "split / merge of (model, optimizer): median µs per call, interleaved",
            split_merge,
        ),
        (
            "import time",
            f"Import time: wall time of a fresh process, median of {args.repeats}",
            import_times,
        ),
        (
            "first call",
            f"First call of the train step (trace + compile + run), fresh process each, "
            f"median of {args.repeats}",
            first_calls,
        ),
    ]
    for name, title, section in sections:
        progress(name)
        print(f"\n## {title}\n", flush=True)
        print(section(args, skipped).render(), flush=True)
    if skipped:
        print("\n## Skipped\n")
        for what, why in skipped.items():
            print(f"- {what}: {why}")


if __name__ == "__main__":
    main()
