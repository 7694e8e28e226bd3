"""examples/distributed_transformer.py on 2 processes x 4 devices, against one process.

One launcher run serves every test (a multi-process run costs ~30 s on 2 cores): it
trains 3 steps, saving a checkpoint after each, then process 1 is killed at step 4. Its
losses are compared with the same code in this process on 8 devices and on 1 device,
its shard report with the layout the mesh and rules give, and its last checkpoint is
restored here on one device. Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np
import pytest

import nnx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "distributed_transformer.py"
STEPS = 3  # completed by both processes before process 1 dies
TOLERANCE = 2e-5  # float32: the meshes sum the same numbers in different orders

pytestmark = pytest.mark.skipif(
    len(jax.devices()) < 8,
    reason="needs 8 devices: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("distributed_transformer", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@pytest.fixture(scope="module")
def runs(example: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The launcher run, and the reference losses computed here while it runs.

    The references are STEPS + 1 steps in this one process, on 8 devices and on 1; they
    overlap the launched processes' start-up (imports, joining), which is mostly waiting.
    """
    checkpoints = tmp_path_factory.mktemp("two_processes") / "checkpoints"
    command = [
        sys.executable,
        "-m",
        "nnx_distributed.launch",
        "--processes=2",
        "--devices-per-process=4",
        "--timeout=240",
        str(EXAMPLE),
        f"--steps={STEPS + 2}",
        f"--checkpoint-dir={checkpoints}",
        "--show-shards",
        f"--die-at-step={STEPS}",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines: dict[int, list[str]] = {0: [], 1: []}
    times: list[float] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            found = re.match(r"\[(\d)\] (.*)", line.rstrip())
            if found:
                lines[int(found[1])].append(found[2])
                if found[2].startswith("step "):
                    times.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        reference = {
            "8 devices": example.train(example.make_mesh(2, 4), STEPS + 1),
            "1 device": example.train(example.make_mesh(1, 1, devices=1), STEPS + 1),
        }
        status = child.wait(timeout=300)
        end = time.monotonic()
        reader.join(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    return {
        "status": status,
        "lines": lines,
        "stop_seconds": end - max(times, default=end),
        "checkpoints": checkpoints,
        "reference": reference,
    }


def losses(lines: list[str]) -> list[float]:
    return [float(line.split()[-1]) for line in lines if line.startswith("step ")]


def test_two_processes_give_the_losses_of_one_process_and_of_one_device(
    runs: dict[str, Any],
) -> None:
    reference = runs["reference"]
    for process in (0, 1):
        got = losses(runs["lines"][process])
        assert len(got) == STEPS, runs["lines"][process]
        for name, expected in reference.items():
            np.testing.assert_allclose(got, expected[:STEPS], rtol=TOLERANCE, err_msg=name)
    assert all(math.isfinite(x) for x in reference["1 device"])
    assert reference["1 device"][-1] < reference["1 device"][0]


def test_each_process_holds_only_its_shards(runs: dict[str, Any], example: ModuleType) -> None:
    mesh = example.make_mesh(2, 4)
    with jax.set_mesh(mesh), nnx.logical_axis_rules(example.RULES):
        model = example.create(example.Config()).model
        expected = {
            ".".join(map(str, path)): (variable.value, variable.out_sharding)
            for path, variable in nnx.to_flat_state(nnx.state(model))
        }
    for process in (0, 1):
        reports = [line.split(" ", 2) for line in runs["lines"][process]]
        shards = {name: rest for kind, name, rest in reports if kind == "shard"}
        assert shards.keys() == expected.keys()
        for name, (value, names) in expected.items():
            shape, count, shard_shapes, held = re.fullmatch(
                r"(\(.*?\)) (\d+) (\[.*\]) held ([\d.]+)", shards[name]
            ).groups()
            shard_shape = value.sharding.shard_shape(value.shape)
            assert ast.literal_eval(shape) == value.shape
            assert int(count) == 4  # one shard per local device
            assert ast.literal_eval(shard_shapes) == [shard_shape], name
            # 'embed' maps to the data axis, which spans the two processes: each holds half
            assert float(held) == (0.5 if "embed" in names else 1.0), name


def test_a_killed_process_stops_the_launcher_with_a_non_zero_exit(runs: dict[str, Any]) -> None:
    assert runs["status"] != 0
    assert runs["stop_seconds"] < 30  # the launcher's grace period is 5 s
    assert not any(line.startswith(f"step {STEPS + 1} ") for line in runs["lines"][0])


def test_the_last_checkpoint_restores_on_another_mesh_in_one_process(
    runs: dict[str, Any], example: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "checkpoints"
    shutil.copytree(runs["checkpoints"], directory)
    # orbax lists committed steps only; the kill may land before process 0 has committed
    # the step process 1 had just written, so the last complete step is STEPS or one less
    steps = sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    assert steps[-1] in (STEPS - 1, STEPS), steps
    last = steps[-1]
    capsys.readouterr()
    # one device, one process: the layout differs from the run's in every array
    mesh = example.make_mesh(1, 1, devices=1)
    next_loss = example.train(mesh, 1, str(directory), restore=True)
    assert f"restored step {last} on mesh {{'data': 1, 'model': 1}}" in capsys.readouterr().out
    expected = runs["reference"]["8 devices"][last : last + 1]
    np.testing.assert_allclose(next_loss, expected, rtol=TOLERANCE)
