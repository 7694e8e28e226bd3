r"""The examples on real data run end to end at reduced size, each in its own process.

They need the ``examples`` dependency group (scikit-learn, matplotlib, tqdm):

    UV_PROJECT_ENVIRONMENT=.venvs/examples uv run --locked --group examples \
        pytest -q tests/test_examples.py

Without it these tests are skipped. ``make examples`` runs both at full size.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn", reason="the examples dependency group is not installed")
pytest.importorskip("matplotlib", reason="the examples dependency group is not installed")
pytest.importorskip("tqdm", reason="the examples dependency group is not installed")

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(script: str, out: Path, *args: str) -> str:
    """Run ``examples/<script>`` with ``args`` into ``out``; its stdout."""
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.pop("XLA_FLAGS", None)  # one CPU device, as a user runs it
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"


def test_digits_cnn_checkpoints_every_epoch_and_a_rerun_resumes(tmp_path: Path) -> None:
    # 384 training digits in batches of 32: 12 steps per epoch.
    size = ["--limit", "384", "--batch-size", "32", "--width", "8"]
    run("digits_cnn.py", tmp_path, "--epochs", "2", *size)
    checkpoints = tmp_path / "checkpoints"
    assert sorted(os.listdir(checkpoints)) == ["1", "2"]
    first = read_json(tmp_path / "history.json")

    stdout = run("digits_cnn.py", tmp_path, "--epochs", "3", *size)
    assert f"resumed from epoch 2 in {checkpoints}" in stdout
    assert "epoch   1 " not in stdout and "epoch   2 " not in stdout  # not trained again
    assert sorted(os.listdir(checkpoints)) == ["1", "2", "3"]
    history = read_json(tmp_path / "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[:2] == first  # the curve goes on from the saved epochs
    summary = read_json(tmp_path / "summary.json")
    # The optimizer's step count and the weights came back: 3 epochs of steps, and the
    # third epoch trains on from the second instead of from a fresh initialisation.
    assert summary["optimizer_steps"] == 3 * 12
    assert history[2]["train_loss"] < history[0]["train_loss"]
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    assert_png(tmp_path / "digits_cnn.png")


def test_char_lm_learns_and_cached_sampling_matches_recomputation(tmp_path: Path) -> None:
    stdout = run(
        "char_lm.py",
        tmp_path,
        *("--steps", "40", "--eval-every", "10", "--batch-size", "16"),
        *("--width", "32", "--heads", "2", "--layers", "1", "--context", "32"),
        *("--prompt", "The ", "--sample-length", "24"),
    )
    summary = read_json(tmp_path / "summary.json")
    curve = summary["curve"]
    assert [point["step"] for point in curve] == [10, 20, 30, 40]
    # From about log(96) = 4.56 nats per character (uniform) down.
    assert curve[-1]["train_loss"] < curve[0]["train_loss"] - 0.2
    assert curve[-1]["validation_loss"] < curve[0]["validation_loss"] - 0.2
    assert curve[0]["train_loss"] < math.log(len(summary["vocabulary"])) + 0.5

    sample = summary["sample"]
    assert isinstance(sample, str) and len(sample) == 24
    assert set(sample) <= set(summary["vocabulary"])
    assert f"The {sample}" in stdout
    # Each cached step fed the model one character; the check fed it the whole prefix.
    # Only a working cache makes the two see the same context.
    assert sample == summary["sample_without_cache"]
    assert summary["largest_logit_difference"] < 1e-4
    assert_png(tmp_path / "char_lm.png")
