"""``run_local``: N processes of one script on this machine, as a cluster would start them.

A developer convenience, not part of training: the processes meet through JAX's own
coordinator (``jax.distributed``) on a free port of 127.0.0.1. The launcher only
starts them, prefixes their output, and guarantees an end: when one process fails
(non-zero exit or killed) the others are stopped, since a collective would otherwise
wait for the lost peer forever, and the launcher exits non-zero. ``timeout`` bounds the
whole run the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from nnx_distributed._environment import process_environment

GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL for a process being stopped
POLL_SECONDS = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    >>> 1024 <= free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_local(
    command: Sequence[str],
    processes: int = 2,
    devices_per_process: int = 1,
    timeout: float | None = None,
    output: IO[str] | None = None,
) -> int:
    """Run ``command`` as ``processes`` cooperating processes; return the exit status.

    Each process gets the launcher's variables (its id, the count, the coordinator
    address, its device count; see ``initialize``) and its own process group, so a
    stopped process takes its children with it. Every line it prints (stdout and stderr)
    is written to ``output`` (default: the launcher's stdout) prefixed ``[id] ``.

    Returns 0 when every process exited 0; otherwise the first failure's exit status
    (1 for a process killed by a signal, 124 when ``timeout`` seconds ran out), after
    stopping the processes still running.

    >>> import sys
    >>> run_local([sys.executable, '-c', 'print("hi")'], processes=1)
    [0] hi
    0
    """
    _check(command, processes, devices_per_process, timeout)
    sink = output if output is not None else sys.stdout
    address = f"127.0.0.1:{free_port()}"
    lock = threading.Lock()
    children: list[subprocess.Popen[str]] = []
    pumps: list[threading.Thread] = []
    try:
        for index in range(processes):
            env = process_environment(os.environ, index, processes, address, devices_per_process)
            child = subprocess.Popen(
                list(command),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                start_new_session=True,
            )
            children.append(child)
            pump = threading.Thread(target=_pump, args=(child, index, sink, lock), daemon=True)
            pump.start()
            pumps.append(pump)
        status = _watch(children, timeout)
    finally:
        _stop(children)
        for pump in pumps:
            pump.join(timeout=GRACE_SECONDS)
        for child in children:
            if child.stdout is not None:
                child.stdout.close()
    return status


def _watch(children: list[subprocess.Popen[str]], timeout: float | None) -> int:
    """Wait for every child; at the first failure (or the deadline) return its status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        codes = [child.poll() for child in children]
        failed = [code for code in codes if code not in (None, 0)]
        if failed:
            code = failed[0]
            return code if code is not None and code > 0 else 1
        if all(code == 0 for code in codes):
            return 0
        if deadline is not None and time.monotonic() > deadline:
            return 124
        time.sleep(POLL_SECONDS)


def _stop(children: list[subprocess.Popen[str]]) -> None:
    """SIGTERM each running child's process group, then SIGKILL what outlives the grace."""
    running = [child for child in children if child.poll() is None]
    for child in running:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in running:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.wait()


def _signal_group(child: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
        os.killpg(child.pid, sig)  # the child leads its own group (start_new_session)


def _pump(child: subprocess.Popen[str], index: int, sink: IO[str], lock: threading.Lock) -> None:
    """Copy the child's output to ``sink`` a line at a time, each prefixed ``[index] ``."""
    assert child.stdout is not None  # opened with stdout=PIPE
    for line in child.stdout:
        with lock:
            sink.write(f"[{index}] {line.rstrip()}\n")
            sink.flush()


def _check(
    command: Sequence[str], processes: int, devices_per_process: int, timeout: float | None
) -> None:
    problems = []
    if isinstance(command, str) or not command:
        problems.append(f"command={command!r}: expected a non-empty list of arguments")
    if not isinstance(processes, int) or processes < 1:
        problems.append(f"processes={processes!r}: expected an integer >= 1")
    if not isinstance(devices_per_process, int) or devices_per_process < 1:
        problems.append(f"devices_per_process={devices_per_process!r}: expected an integer >= 1")
    if timeout is not None and not timeout > 0:
        problems.append(f"timeout={timeout!r}: expected a positive number of seconds or None")
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ValueError(
            f"nnx_distributed.run_local: invalid arguments.\n{lines}\n"
            "Fix: run_local([sys.executable, 'train.py'], processes=2, devices_per_process=4)"
        )
