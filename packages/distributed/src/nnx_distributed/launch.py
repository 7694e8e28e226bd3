"""``python -m nnx_distributed.launch``: run a script as several local JAX processes.

Usage::

    python -m nnx_distributed.launch --processes 2 --devices-per-process 4 train.py [args]

The script is run with this Python; it should call ``nnx_distributed.initialize()``
first. The launcher's exit status is 0 when every process succeeded, else non-zero.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from nnx_distributed._launcher import run_local


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the script; return the exit status.

    >>> main(['--processes', '1', '-c', 'print(6 * 7)'])
    [0] 42
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m nnx_distributed.launch",
        description="Run a Python script as several cooperating JAX processes on this "
        "machine, each with its own simulated CPU devices.",
    )
    parser.add_argument("--processes", type=int, default=2, help="how many processes")
    parser.add_argument(
        "--devices-per-process", type=int, default=1, help="simulated CPU devices each"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="stop everything after this many seconds"
    )
    parser.add_argument("-c", dest="code", default=None, help="program passed in as string")
    parser.add_argument("script", nargs="?", help="the training script")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    options = parser.parse_args(argv)
    if options.code is not None:
        target = ["-c", options.code]
        if options.script is not None:
            target.append(options.script)
    elif options.script is not None:
        target = [options.script]
    else:
        parser.error("give a script to run (or -c CODE)")
    # A launcher stopped by SIGTERM (a CI timeout, kill) or Ctrl-C still stops its
    # processes: they sit in their own sessions and would otherwise wait forever in a
    # collective for their lost peers.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_local(
            [sys.executable, "-u", *target, *options.args],
            processes=options.processes,
            devices_per_process=options.devices_per_process,
            timeout=options.timeout,
        )
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
