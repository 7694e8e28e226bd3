from __future__ import annotations

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from nnx_checkpoint import CheckpointError, CheckpointManager
from nnx_graph import State, Variable


def weights(value: float) -> State:
    return State({"w": Variable(jnp.full((4,), value))})


def read(manager: CheckpointManager, step: int | None) -> float:
    return float(manager.restore(step, weights(-1.0))["w"].value[0])


def test_keeps_the_last_n_and_restores_the_newest(tmp_path: object) -> None:
    with CheckpointManager(tmp_path, max_to_keep=2) as manager:
        assert manager.latest_step() is None
        for step in range(0, 50, 10):
            manager.save(step, weights(float(step)))
        manager.wait_until_finished()
        assert manager.all_steps() == [30, 40]
        assert manager.latest_step() == 40
        assert read(manager, None) == 40.0
        assert read(manager, 30) == 30.0
    reopened = CheckpointManager(tmp_path)  # steps are found again from the directory
    assert reopened.all_steps() == [30, 40]
    assert read(reopened, None) == 40.0
    reopened.close()


def test_keeps_the_best_k_by_a_metric_as_well(tmp_path: object) -> None:
    losses = {1: 0.5, 2: 0.1, 3: 0.9, 4: 0.7, 5: 0.8}
    with CheckpointManager(
        tmp_path, max_to_keep=1, metric="loss", keep_best=2, mode="min", async_save=False
    ) as manager:
        for step, loss in losses.items():
            manager.save(step, weights(float(step)), metrics={"loss": loss})
        assert manager.all_steps() == [1, 2, 5]  # best two (2, 1) and the newest (5)
        assert manager.best_step() == 2
        assert read(manager, manager.best_step()) == 2.0


def test_restoring_a_step_logs_no_warning(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    # orbax keeps a step's _CHECKPOINT_METADATA in <step>/, beside the item directory
    # that restore reads; looking for it in <step>/default/ warned on every resume.
    with CheckpointManager(tmp_path) as manager:
        manager.save(1, weights(1.0))
        with caplog.at_level("WARNING"):
            assert read(manager, 1) == 1.0
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_a_missing_step_or_metric_is_a_clear_error(tmp_path: object) -> None:
    with CheckpointManager(tmp_path, metric="loss", keep_best=1) as manager:
        with pytest.raises(ValueError, match=r"step 3 has no 'loss'(.|\n)*metrics=\{'loss'"):
            manager.save(3, weights(0.0))
        with pytest.raises(CheckpointError, match=r"no step None(.|\n)*latest_step"):
            manager.restore(None, weights(0.0))
    with pytest.raises(ValueError, match=r"keep_best=2 needs the metric(.|\n)*metric="):
        CheckpointManager(tmp_path, keep_best=2)


def test_a_step_directory_is_a_plain_checkpoint(tmp_path: object) -> None:
    from nnx_checkpoint import restore

    with CheckpointManager(tmp_path) as manager:
        manager.save(7, weights(7.0))
        manager.wait_until_finished()
        restored = restore(manager.step_directory(7), weights(0.0))
    np.testing.assert_array_equal(restored["w"].value, jnp.full((4,), 7.0))


KILLED_DURING_SAVE = """
import os, signal, sys
import os

import jax.numpy as jnp
from nnx_graph import State, Variable
from nnx_checkpoint import CheckpointManager

manager = CheckpointManager(sys.argv[1])
manager.save(1, State({"w": Variable(jnp.full((4,), 1.0))}))
manager.wait_until_finished()
big = State({"w": Variable(jnp.ones((4,))), "big": Variable(jnp.ones((4096, 4096)))})
manager.save(2, big)  # returns once the arrays are off the device; the write goes on
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_save_killed_midway_is_ignored_and_the_previous_step_restores(tmp_path: object) -> None:
    run = subprocess.run(
        [sys.executable, "-c", KILLED_DURING_SAVE, str(tmp_path)], capture_output=True, timeout=120
    )
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    leftovers = [name for name in os.listdir(tmp_path) if name not in ("1",)]
    assert leftovers, "the kill came after the save completed: nothing was tested"
    assert not any(name == "2" for name in leftovers)  # never renamed into place
    with CheckpointManager(tmp_path) as manager:
        assert manager.all_steps() == [1]
        assert read(manager, None) == 1.0
        assert sorted(os.listdir(tmp_path)) == ["1"]  # the partial save was cleaned up
        manager.save(2, weights(2.0))
        manager.wait_until_finished()
        assert read(manager, None) == 2.0
