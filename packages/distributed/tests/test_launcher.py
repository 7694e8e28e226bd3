"""The launcher: prefixed output, exit status, stopping every process when one fails."""

import io
import os
import subprocess
import sys
import textwrap
import time

import pytest

import nnx_distributed
from nnx_distributed.launch import main


def run(code: str, processes: int = 2, **kwargs):
    out = io.StringIO()
    status = nnx_distributed.run_local(
        [sys.executable, "-c", textwrap.dedent(code)], processes=processes, output=out, **kwargs
    )
    return status, out.getvalue().splitlines()


def test_every_line_is_prefixed_with_its_process_id():
    status, lines = run(
        """
        import os, sys
        pid = os.environ['NNX_PROCESS_ID']
        print('out', pid)
        print('err', pid, file=sys.stderr)
        """
    )
    assert status == 0
    assert sorted(lines) == ["[0] err 0", "[0] out 0", "[1] err 1", "[1] out 1"]


def test_each_process_is_told_who_it_is_and_where_to_meet():
    status, lines = run(
        """
        import os
        keys = ['NNX_PROCESS_ID', 'NNX_NUM_PROCESSES', 'NNX_LOCAL_DEVICE_COUNT', 'XLA_FLAGS']
        print(*[os.environ[k] for k in keys], os.environ['NNX_COORDINATOR_ADDRESS'][:10])
        """,
        processes=3,
        devices_per_process=4,
    )
    assert status == 0
    flag = "--xla_force_host_platform_device_count=4"
    assert sorted(lines) == [f"[{i}] {i} 3 4 {flag} 127.0.0.1:" for i in range(3)]


def test_a_failing_process_stops_the_others_and_its_status_is_returned():
    start = time.monotonic()
    status, lines = run(
        """
        import os, sys, time
        if os.environ['NNX_PROCESS_ID'] == '1':
            sys.exit(3)
        print('waiting', flush=True)
        time.sleep(60)
        print('never')
        """
    )
    assert status == 3
    assert time.monotonic() - start < 20
    assert "[0] never" not in lines


def test_a_killed_process_makes_the_exit_non_zero():
    status, _ = run(
        """
        import os, signal, time
        if os.environ['NNX_PROCESS_ID'] == '0':
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
        """
    )
    assert status == 1


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period():
    start = time.monotonic()
    status, _ = run(
        """
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.environ['NNX_PROCESS_ID'] == '1':
            sys.exit(2)
        time.sleep(60)
        """
    )
    assert status == 2
    assert time.monotonic() - start < 5 + 15


def test_timeout_stops_everything_with_status_124():
    start = time.monotonic()
    status, _ = run("import time; time.sleep(60)", timeout=1.0)
    assert status == 124
    assert time.monotonic() - start < 20


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"processes": 0}, r"processes=0: expected an integer >= 1"),
        ({"devices_per_process": -1}, r"devices_per_process=-1: expected"),
        ({"timeout": 0}, r"timeout=0: expected a positive number"),
    ],
)
def test_invalid_arguments_are_named_with_the_fix(kwargs, pattern):
    with pytest.raises(ValueError, match=rf"(?s){pattern}.*Fix: run_local\("):
        nnx_distributed.run_local([sys.executable, "-c", "pass"], **kwargs)


def test_a_command_must_be_a_list():
    with pytest.raises(ValueError, match=r"command='train.py': expected a non-empty list"):
        nnx_distributed.run_local("train.py")


def test_the_command_line_passes_the_script_its_arguments(tmp_path, capsys):
    script = tmp_path / "script.py"
    script.write_text("import sys; print(sys.argv[1:])\n")
    assert main(["--processes", "1", str(script), "--steps", "3"]) == 0
    assert capsys.readouterr().out == "[0] ['--steps', '3']\n"


def test_the_module_runs_as_a_program(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys; print('bye'); sys.exit(5)\n")
    result = subprocess.run(
        [sys.executable, "-m", "nnx_distributed.launch", "--processes", "2", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 5
    assert "[0] bye" in result.stdout or "[1] bye" in result.stdout


def test_a_terminated_launcher_stops_its_processes(tmp_path):
    script = tmp_path / "sleep.py"
    pids = tmp_path / "pids"
    script.write_text(
        "import os, time\n"
        f"open({str(pids)!r} + os.environ['NNX_PROCESS_ID'], 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "nnx_distributed.launch", "--processes", "2", str(script)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    files = [tmp_path / f"pids{i}" for i in (0, 1)]
    while not all(f.exists() and f.read_text() for f in files):
        assert time.monotonic() < deadline, "the processes never started"
        time.sleep(0.05)
    launcher.terminate()
    assert launcher.wait(timeout=20) == 130
    for f in files:
        pid = int(f.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
