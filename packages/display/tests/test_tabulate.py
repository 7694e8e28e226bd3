"""nnx.tabulate: one row per module call, shapes and per-kind sizes, nothing computed."""

import jax
import jax.numpy as jnp
import pytest

import nnx_graph as ng
from nnx_display import tabulate


class Stat(ng.Variable):
    pass


class Dense(ng.Module):
    def __init__(self, n_in, n_out):
        self.kernel = ng.Variable(jnp.ones((n_in, n_out)))
        self.calls = Stat(jnp.zeros((), jnp.int32))

    def __call__(self, x):
        self.calls.value += 1
        return x @ self.kernel.value


class Net(ng.Module):
    def __init__(self):
        self.first = Dense(2, 3)
        self.second = Dense(3, 1)

    def __call__(self, x):
        return self.second(self.first(x))


def test_rows_follow_the_calls_with_shapes_and_sizes():
    net = Net()
    lines = tabulate(net, jnp.ones((4, 2))).splitlines()
    assert lines[0].split() == ["path", "type", "inputs", "outputs", "Stat", "Variable"]
    assert lines[2].split()[0] == "Net"  # the outer call starts first, as in flax
    assert lines[3].split()[:3] == ["first", "Dense", "float32[4,"]
    assert "float32[4, 3]" in lines[3] and "6 (24 B)" in lines[3] and "1 (4 B)" in lines[3]
    assert lines[4].startswith("second") and "float32[4, 1]" in lines[4]
    assert lines[-1].split() == ["Total", "2", "(8", "B)", "9", "(36", "B)"]
    assert int(net.first.calls.value) == 0  # nothing ran on the model itself


def test_depth_limits_the_rows():
    table = tabulate(Net(), jnp.ones((4, 2)), depth=0)
    assert "first" not in table and "Net" in table


def test_errors_of_the_call_propagate():
    with pytest.raises(TypeError):
        tabulate(Net(), jnp.ones((4, 5)))


class Keyed(ng.Module):
    """A module holding a typed PRNG key, as a Dropout's random stream does."""

    def __init__(self):
        self.key = Stat(jax.random.key(0))
        self.kernel = ng.Variable(jnp.ones((2, 2)))

    def __call__(self, x):
        return x @ self.kernel.value


def test_a_module_holding_a_prng_key_counts_its_bytes():
    table = tabulate(Keyed(), jnp.ones((1, 2)))
    assert table.splitlines()[-1].split() == ["Total", "1", "(8", "B)", "4", "(16", "B)"]
