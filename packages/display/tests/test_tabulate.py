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


def _cells(line):
    return [cell.strip() for cell in line.strip("│┃").split("│" if "│" in line else "┃")]


def test_rows_follow_the_calls_with_shapes_and_sizes():
    net = Net()
    lines = tabulate(net, jnp.ones((4, 2))).splitlines()
    assert lines[0].strip() == "Net Summary"
    assert _cells(lines[2]) == ["path", "type", "inputs", "outputs", "Stat", "Variable"]
    rows = [_cells(line) for line in lines if line.startswith("│")]
    assert rows[0][:4] == ["", "Net", "float32[4,2]", "float32[4,1]"]  # the outer call first
    assert rows[1] == [
        "first",
        "Dense",
        "float32[4,2]",
        "float32[4,3]",
        "calls: int32[]",
        "kernel: float32[2,3]",
    ]
    assert rows[3] == ["", "", "", "", "1 (4 B)", "6 (24 B)"]  # the first's own totals
    assert rows[4][:2] == ["second", "Dense"] and rows[4][3] == "float32[4,1]"
    assert rows[-1] == ["", "", "", "Total", "2 (8 B)", "9 (36 B)"]
    assert lines[-1].strip() == "Total Parameters: 11 (44 B)"
    assert int(net.first.calls.value) == 0  # nothing ran on the model itself


def test_the_layout_is_flax_0_12s():
    # The same box table, cell for cell, as Flax NNX 0.12.8 prints for this model
    # (rich's colours aside); its title and caption are centred the same way too.
    table = tabulate(Dense(2, 3), jnp.ones((1, 2)))
    assert table.splitlines()[1:] == [
        "┏━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓",
        "┃ path ┃ type  ┃ inputs       ┃ outputs      ┃ Stat           ┃ Variable             ┃",
        "┡━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩",
        "│      │ Dense │ float32[1,2] │ float32[1,3] │ calls: int32[] │ kernel: float32[2,3] │",
        "│      │       │              │              │                │                      │",
        "│      │       │              │              │ 1 (4 B)        │ 6 (24 B)             │",
        "├──────┼───────┼──────────────┼──────────────┼────────────────┼──────────────────────┤",
        "│      │       │              │        Total │ 1 (4 B)        │ 6 (24 B)             │",
        "└──────┴───────┴──────────────┴──────────────┴────────────────┴──────────────────────┘",
        "",
        "                              Total Parameters: 7 (28 B)",
    ]


def test_flops_and_vjp_flops_come_from_xla_cost_analysis():
    rows = tabulate(Net(), jnp.ones((4, 2)), compute_flops=True, compute_vjp_flops=True)
    cells = [_cells(line) for line in rows.splitlines() if line.startswith("│")]
    header = _cells(rows.splitlines()[2])
    assert header[4:6] == ["flops", "vjp_flops"]
    first = cells[1]
    assert first[4] == "48"  # a (4, 2) @ (2, 3) matmul: 2 * 4 * 2 * 3
    assert int(first[5]) > int(first[4])  # the VJP adds the backward pass


def test_row_filter_and_title():
    table = tabulate(
        Net(),
        jnp.ones((4, 2)),
        row_filter=lambda row: row.type is not Dense or row.path == ("second",),
        table_kwargs={"title": "My net"},
        console_kwargs={"width": 80},  # rich's option: taken, nothing to do in plain text
    )
    assert table.splitlines()[0].strip() == "My net"
    assert "second" in table and "first" not in table


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
    total = next(_cells(line) for line in table.splitlines() if "Total" in line)
    assert total[-2:] == ["1 (8 B)", "4 (16 B)"]
