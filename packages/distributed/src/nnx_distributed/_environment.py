"""What the launcher tells each process, and ``initialize``, which acts on it.

The launcher and the processes it starts talk only through environment variables (the
names below), so a training script needs no argument of its own to run distributed, and
the same script run by hand (no such variables) stays a plain one-process program.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import jax

PROCESS_ID = "NNX_PROCESS_ID"
NUM_PROCESSES = "NNX_NUM_PROCESSES"
COORDINATOR_ADDRESS = "NNX_COORDINATOR_ADDRESS"
LOCAL_DEVICE_COUNT = "NNX_LOCAL_DEVICE_COUNT"

_DEVICE_COUNT_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


def process_environment(
    base: Mapping[str, str],
    process_id: int,
    num_processes: int,
    coordinator_address: str,
    local_device_count: int,
) -> dict[str, str]:
    """The environment of one launched process: ``base`` plus who it is and where to meet.

    The simulated device count also goes into ``XLA_FLAGS`` (replacing any count there,
    such as the Makefile's 8), so a script that touches JAX before ``initialize`` still
    sees its own share of devices.

    >>> env = process_environment({}, 1, 2, '127.0.0.1:1234', 4)
    >>> env['NNX_PROCESS_ID'], env['XLA_FLAGS']
    ('1', '--xla_force_host_platform_device_count=4')
    """
    env = dict(base)
    flags = _DEVICE_COUNT_FLAG.sub("", env.get("XLA_FLAGS", "")).split()
    flags.append(f"--xla_force_host_platform_device_count={local_device_count}")
    env.update(
        {
            PROCESS_ID: str(process_id),
            NUM_PROCESSES: str(num_processes),
            COORDINATOR_ADDRESS: coordinator_address,
            LOCAL_DEVICE_COUNT: str(local_device_count),
            "XLA_FLAGS": " ".join(flags),
            "JAX_PLATFORMS": env.get("JAX_PLATFORMS") or "cpu",
            "PYTHONUNBUFFERED": "1",  # lines reach the launcher's prefixer as printed
        }
    )
    return env


def initialize() -> bool:
    """Join this process to the others started by ``nnx_distributed.launch``.

    Call it first in a training script, before any JAX computation. Under the launcher
    it gives this process its simulated CPU devices, selects gloo for the CPU
    collectives, and calls ``jax.distributed.initialize`` with the coordinator address,
    the process count and this process's id; afterwards ``jax.devices()`` lists every
    process's devices. Without the launcher's variables it does nothing and returns
    False, so the same script runs in one process. On a cluster, call
    ``jax.distributed.initialize()`` the cluster's way instead.

    >>> initialize()  # not under the launcher: a one-process run
    False
    """
    if PROCESS_ID not in os.environ:
        return False
    process_id = _read_int(PROCESS_ID, minimum=0)
    num_processes = _read_int(NUM_PROCESSES, minimum=1)
    devices = _read_int(LOCAL_DEVICE_COUNT, minimum=1)
    address = os.environ.get(COORDINATOR_ADDRESS, "")
    if process_id >= num_processes or not re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
        raise ValueError(
            _message(
                f"nnx_distributed.initialize: inconsistent launcher variables "
                f"{PROCESS_ID}={process_id}, {NUM_PROCESSES}={num_processes}, "
                f"{COORDINATOR_ADDRESS}={address!r}.",
                expected="0 <= process id < process count, and an address as host:port",
                fix="start the script with python -m nnx_distributed.launch --processes N "
                "script.py",
            )
        )
    jax.config.update("jax_num_cpu_devices", devices)  # type: ignore[no-untyped-call]  # jax: unannotated
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # type: ignore[no-untyped-call]  # jax: unannotated
    jax.distributed.initialize(
        coordinator_address=address, num_processes=num_processes, process_id=process_id
    )
    return True


def _read_int(name: str, minimum: int) -> int:
    text = os.environ.get(name, "")
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(
            _message(
                f"nnx_distributed.initialize: environment variable {name}={text!r} is not "
                f"an integer >= {minimum}.",
                expected="the variables nnx_distributed.launch sets for each process",
                fix="start the script with python -m nnx_distributed.launch --processes N "
                "script.py",
            )
        )
    return value


def _message(summary: str, *, expected: str, fix: str) -> str:
    # nnx_graph's message layout, repeated here: this package depends on jax alone.
    return f"{summary}\nExpected: {expected}\nFix: {fix}"
