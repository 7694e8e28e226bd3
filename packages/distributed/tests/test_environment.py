"""initialize(): a no-op alone, JAX's distributed runtime under the launcher."""

import io
import re
import sys
import textwrap

import pytest

import nnx_distributed


def test_without_the_launcher_initialize_does_nothing(monkeypatch):
    monkeypatch.delenv(nnx_distributed.PROCESS_ID, raising=False)
    assert nnx_distributed.initialize() is False


@pytest.mark.parametrize(
    ("env", "pattern"),
    [
        ({"NNX_PROCESS_ID": "x"}, r"NNX_PROCESS_ID='x' is not an integer >= 0"),
        (
            {"NNX_PROCESS_ID": "0", "NNX_NUM_PROCESSES": "0"},
            r"NNX_NUM_PROCESSES='0' is not an integer >= 1",
        ),
        (
            {
                "NNX_PROCESS_ID": "2",
                "NNX_NUM_PROCESSES": "2",
                "NNX_LOCAL_DEVICE_COUNT": "1",
                "NNX_COORDINATOR_ADDRESS": "127.0.0.1:1234",
            },
            r"NNX_PROCESS_ID=2, NNX_NUM_PROCESSES=2",
        ),
        (
            {
                "NNX_PROCESS_ID": "0",
                "NNX_NUM_PROCESSES": "1",
                "NNX_LOCAL_DEVICE_COUNT": "1",
                "NNX_COORDINATOR_ADDRESS": "nowhere",
            },
            r"NNX_COORDINATOR_ADDRESS='nowhere'",
        ),
    ],
)
def test_bad_launcher_variables_are_named_with_the_fix(monkeypatch, env, pattern):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=rf"(?s){pattern}.*Fix: start the script with"):
        nnx_distributed.initialize()


def test_makefile_device_count_is_replaced_not_doubled():
    base = {"XLA_FLAGS": "--xla_cpu_foo=1 --xla_force_host_platform_device_count=8"}
    env = nnx_distributed.process_environment(base, 0, 2, "127.0.0.1:1", 4)
    assert env["XLA_FLAGS"] == "--xla_cpu_foo=1 --xla_force_host_platform_device_count=4"


def test_two_processes_form_one_set_of_devices_and_sum_across_it():
    # Each process puts its id + 1 on its 2 devices; the global sum sees both processes.
    code = """
        import nnx_distributed
        assert nnx_distributed.initialize()
        import jax, jax.numpy as jnp, numpy as np
        mesh = jax.make_mesh((4,), ('data',))
        sharding = jax.sharding.NamedSharding(mesh, jax.P('data'))
        local = np.full((2,), jax.process_index() + 1.0, np.float32)
        x = jax.make_array_from_process_local_data(sharding, local, (4,))
        print(jax.device_count(), jax.local_device_count(), float(jax.jit(jnp.sum)(x)))
    """
    out = io.StringIO()
    status = nnx_distributed.run_local(
        [sys.executable, "-c", textwrap.dedent(code)],
        processes=2,
        devices_per_process=2,
        timeout=120,
        output=out,
    )
    # gloo's own C++ threads also write to the processes' stderr: keep our lines only
    lines = out.getvalue().splitlines()
    results = sorted(line for line in lines if re.fullmatch(r"\[\d\] \d+ \d+ [\d.]+", line))
    assert status == 0, out.getvalue()
    assert results == ["[0] 4 2 6.0", "[1] 4 2 6.0"]
