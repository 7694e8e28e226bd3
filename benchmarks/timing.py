"""Timing primitives: interleaved rounds, medians, paired ratios, fresh-process timings.

The machine is shared and noisy, so no single measurement is trusted. Variants are timed in
rounds; every round runs each variant once, in a freshly shuffled order, for many steps. A
burst of background load then hits every variant of a round alike, and the median over
rounds drops the rounds that it hit hardest.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax


@dataclass(frozen=True)
class Case:
    """One variant of a workload, built and ready to be called.

    Attributes:
        step: runs one step; returns what the step computed (to block on).
        sync: returns every array the steps so far have written (to block on), so that a
            timed round ends only when all of its work has really finished.
    """

    step: Callable[[], Any]
    sync: Callable[[], Any]

    def run(self, steps: int) -> None:
        out = None
        for _ in range(steps):
            out = self.step()
        jax.block_until_ready((out, self.sync()))


def warm_up(case: Case, calls: int = 2) -> None:
    """Compiles the step; a second call catches a retrace caused by the first's outputs."""
    case.run(calls)


def interleaved(
    cases: Mapping[str, Case], steps: int, rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds per step of each case, one sample per round, rounds interleaved."""
    order = list(cases)
    shuffle = random.Random(seed).shuffle
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            gc.collect()  # no variant pays for the garbage the one before it left
            start = time.perf_counter()
            cases[name].run(steps)
            samples[name].append((time.perf_counter() - start) / steps)
    return samples


def interleaved_calls(
    calls: Mapping[str, Callable[[], Any]], repeats: int, rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds per call of plain Python callables (no device work), rounds interleaved."""
    cases = {name: Case(fn, lambda: None) for name, fn in calls.items()}
    return interleaved(cases, repeats, rounds, seed)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def paired_ratio(samples: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over rounds of (this / baseline) measured in the same round.

    Pairing by round cancels load that varies between rounds, which the ratio of the two
    medians would not.
    """
    return statistics.median(a / b for a, b in zip(samples, baseline, strict=True))


def fresh_process_times(
    commands: Mapping[str, Sequence[str]],
    repeats: int,
    *,
    self_timed: bool = False,
    env: Mapping[str, str] | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds of each command, each run in a fresh process, runs interleaved.

    Args:
        commands: label -> argv.
        repeats: runs of each command.
        self_timed: if true, a command times itself and prints ``{"seconds": s}`` (or
            ``{"skipped": reason}``) as JSON on its last line of output; otherwise its wall
            time is measured here, interpreter start-up included.
        env: the environment of the commands (default: this process's).
        seed: seeds the shuffling of each repeat's order.

    Returns:
        The samples of the commands that ran, and for each that failed or skipped, why. A
        command that failed once is not run again.
    """
    order = list(commands)
    shuffle = random.Random(seed).shuffle
    samples: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            if name in failed:
                continue
            start = time.perf_counter()
            done = subprocess.run(
                commands[name], capture_output=True, text=True, env=env, check=False
            )
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
                failed[name] = f"exit status {done.returncode}: {tail[0]}"
            elif not self_timed:
                samples.setdefault(name, []).append(elapsed)
            else:
                result = _last_json_line(done.stdout)
                if "seconds" in result:
                    samples.setdefault(name, []).append(float(result["seconds"]))
                else:
                    failed[name] = str(result.get("skipped", "printed no result"))
    return samples, failed


def _last_json_line(stdout: str) -> dict[str, Any]:
    """The JSON object on the last line of ``stdout``; ``{}`` if there is none."""
    lines = stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}
    return result if isinstance(result, dict) else {}
