"""The harness itself: sizes, timing bookkeeping, fresh processes, tables and flags."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import run, timing
from benchmarks.report import Table, ratio
from benchmarks.workload import layer_sizes


def test_layer_sizes_chain_from_input_to_output():
    assert layer_sizes(1) == [(32, 10)]
    assert layer_sizes(3) == [(32, 64), (64, 64), (64, 10)]
    assert len(layer_sizes(128)) == 128


def test_layer_sizes_rejects_a_depth_below_one():
    with pytest.raises(ValueError, match="depth must be at least 1, got 0"):
        layer_sizes(0)


def test_interleaved_runs_every_case_for_every_round():
    calls = {"a": 0, "b": 0}
    synced = {"a": 0, "b": 0}

    def case(name: str) -> timing.Case:
        def step() -> int:
            calls[name] += 1
            return calls[name]

        def sync() -> None:
            synced[name] += 1

        return timing.Case(step, sync)

    samples = timing.interleaved({"a": case("a"), "b": case("b")}, steps=4, rounds=3)
    assert calls == {"a": 12, "b": 12}
    assert synced == {"a": 3, "b": 3}
    assert {name: len(times) for name, times in samples.items()} == {"a": 3, "b": 3}
    assert all(t > 0 for times in samples.values() for t in times)


def test_paired_ratio_is_the_median_of_per_round_ratios():
    # Round 2 is slow for both; pairing cancels it, the ratio of medians would not.
    assert timing.paired_ratio([2.0, 20.0, 2.0], [1.0, 10.0, 1.0]) == 2.0
    assert timing.paired_ratio([3.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == 2.0


def test_fresh_process_times_reports_wall_times_and_failures():
    commands = {
        "ok": [sys.executable, "-c", "pass"],
        "broken": [sys.executable, "-c", "raise SystemExit('no such library')"],
    }
    samples, failed = timing.fresh_process_times(commands, repeats=2)
    assert len(samples["ok"]) == 2
    assert "broken" not in samples
    assert failed == {"broken": "exit status 1: no such library"}


def test_fresh_process_times_reads_self_timed_json():
    commands = {
        "timed": [sys.executable, "-c", f"print({json.dumps(json.dumps({'seconds': 0.25}))})"],
        "skip": [sys.executable, "-c", f"print({json.dumps(json.dumps({'skipped': 'why'}))})"],
    }
    commands["silent"] = [sys.executable, "-c", "print('not json')"]
    samples, failed = timing.fresh_process_times(commands, repeats=2, self_timed=True)
    assert samples == {"timed": [0.25, 0.25]}
    assert failed == {"skip": "why", "silent": "printed no result"}


def test_table_aligns_numbers_right_and_text_left():
    table = Table(["variant", "µs"])
    table.add(["a", "1,234.5"])
    table.add(["long name", "skipped"])
    table.add(["b", "7.0"])
    assert table.render().splitlines() == [
        "| variant   |      µs |",
        "|-----------|--------:|",
        "| a         | 1,234.5 |",
        "| long name | skipped |",
        "| b         |     7.0 |",
    ]
    assert ratio(None) == "n/a"
    assert ratio(1.5) == "1.50x"


def test_table_rejects_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"row \['a'\] has 1 cells, the header 2"):
        Table(["variant", "µs"]).add(["a"])


def test_smoke_defaults_give_way_to_explicit_flags():
    args = run.parse_args(["--smoke", "--depths", "3", "5", "--rounds", "4"])
    assert (args.depths, args.steps, args.rounds) == ([3, 5], 3, 4)
    assert args.first_call_depth == args.split_depth == 2
    full = run.parse_args([])
    assert (full.depths, full.split_depth, full.first_call_depth) == ([4, 32, 128], 32, 32)
    assert (args.transformer, full.transformer) == ("smoke", "full")
    assert run.parse_args(["--smoke", "--transformer", "full"]).transformer == "full"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1, got 0"),
        (["--depths", "4", "0"], r"--depths must all be at least 1, got \[4, 0\]"),
    ],
)
def test_bad_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        run.parse_args(argv)
    assert message.replace("\\", "") in capsys.readouterr().err
