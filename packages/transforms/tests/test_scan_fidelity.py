"""nnx.scan as flax runs it (issue 11, cases 12, 13, 21, 23)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, pop, state
from nnx_transforms import Carry, StateAxes, jit, scan, vmap
from nnx_variables import BatchStat, Intermediate, Param, RngCount, Rngs


class Block(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (3, 3)) / 3)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.tanh(x @ self.w)
        self.sow(Intermediate, "h", y)
        return y


def _stack(n: int = 4) -> Block:
    @vmap(in_axes=0, out_axes=0)
    def create(key: jax.Array) -> Block:
        return Block(Rngs(key))

    return create(jax.random.split(jax.random.key(0), n))


# -- case 12: sow inside scan --------------------------------------------------------------


def test_sow_in_a_scanned_stack_comes_back_stacked() -> None:
    blocks = _stack()

    @scan(in_axes=(0, Carry), out_axes=Carry)
    def forward(block: Block, x: jax.Array) -> jax.Array:
        return block(x)

    x = jnp.ones((2, 3))
    y = forward(blocks, x)
    (h,) = blocks.h.value
    assert type(blocks.h) is Intermediate
    assert h.shape == (4, 2, 3)
    expected = x
    for i in range(4):
        expected = jnp.tanh(expected @ blocks.w.value[i])
        assert jnp.allclose(h[i], expected, atol=1e-6)
    assert jnp.allclose(y, expected, atol=1e-6)
    # A second call folds in as it does eagerly: the tuple grows.
    forward(blocks, x)
    assert [a.shape for a in blocks.h.value] == [(4, 2, 3), (4, 2, 3)]
    intermediates = pop(blocks, Intermediate)
    assert set(intermediates.flat_dict()) == {("h",)}
    assert not hasattr(blocks, "h")


def test_sow_with_stacked_outputs_and_under_jit() -> None:
    blocks = _stack(3)

    @jit
    @scan(in_axes=(Carry, 0), out_axes=(Carry, 0))
    def forward(x: jax.Array, block: Block) -> tuple[jax.Array, jax.Array]:
        y = block(x)
        return y, y.sum()

    _, sums = forward(jnp.ones((2, 3)), blocks)
    assert sums.shape == (3,)
    assert blocks.h.value[0].shape == (3, 2, 3)
    assert jnp.allclose(blocks.h.value[0].sum(axis=(1, 2)), sums, atol=1e-5)


def test_sow_into_a_carried_object_is_a_clear_error() -> None:
    block = Block(Rngs(0))

    @scan(in_axes=(Carry, 0), out_axes=Carry)
    def loop(b: Block, x: jax.Array) -> Block:
        b(x)
        return b

    with pytest.raises(ValueError, match=r"(?s)nnx\.scan.*b\.h.*carr.*Fix"):
        loop(block, jnp.ones((2, 1, 3)))
    assert not hasattr(block, "h")


# -- case 13: broadcast RNG state ------------------------------------------------------------


class Cell(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jnp.eye(4))
        self.rngs = rngs

    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        keep = jax.random.bernoulli(self.rngs.dropout(), 0.5, h.shape)
        return jnp.where(keep, h @ self.w, 0.0) + x, keep


def _counts(cell: Cell) -> list[int]:
    return [int(c) for c in jax.tree_util.tree_leaves(state(cell, RngCount))]


@pytest.mark.parametrize(
    "cell_axes",
    [None, StateAxes({"dropout": None, ...: Carry}), StateAxes({RngCount: None, ...: None})],
    ids=["None", "dropout-None", "RngCount-None"],
)
def test_broadcast_rng_gives_one_mask_for_every_step_and_advances_once(cell_axes: Any) -> None:
    cell = Cell(Rngs(0, dropout=1))
    before = _counts(cell)

    @scan(in_axes=(cell_axes, Carry, 0), out_axes=(Carry, 0))
    def run(c: Cell, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return c(h, x)

    _, masks = run(cell, jnp.ones(4), jnp.ones((5, 4)))
    assert masks.shape == (5, 4)
    assert bool((masks == masks[0]).all())  # recurrent dropout: one mask per sequence
    assert _counts(cell) == [before[0], before[1] + 1]  # advanced once, not per step
    _, again = run(cell, jnp.ones(4), jnp.ones((5, 4)))
    assert _counts(cell) == [before[0], before[1] + 2]
    assert not bool((again == masks).all())  # the next call draws a new mask


def test_other_broadcast_state_stays_read_only() -> None:
    class Stats(Module):
        def __init__(self) -> None:
            self.mean = BatchStat(jnp.zeros(4))

    @scan(in_axes=(None, Carry, 0), out_axes=Carry)
    def loop(s: Stats, h: jax.Array, x: jax.Array) -> jax.Array:
        s.mean.value = s.mean.value + x
        return h

    stats = Stats()
    with pytest.raises(ValueError, match=r"(?s)broadcast.*  - s\.mean.*Fix"):
        loop(stats, jnp.ones(4), jnp.ones((3, 4)))
    assert float(stats.mean.value.sum()) == 0.0


# -- case 21: the body is traced once per structure ----------------------------------------


def test_body_is_traced_once_per_call_structure() -> None:
    traces = []
    block = Block(Rngs(0))
    del block.w  # a plain module with no sow
    model = Cell(Rngs(0, dropout=1))

    @scan(in_axes=(StateAxes({...: Carry}), Carry, 0), out_axes=(Carry, 0))
    def run(c: Cell, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        traces.append(1)
        return c(h, x)

    for _ in range(3):
        run(model, jnp.ones(4), jnp.ones((5, 4)))
    assert len(traces) == 1
    run(model, jnp.ones(4), jnp.ones((6, 4)))  # a new length: traced again
    assert len(traces) == 2
    run(Cell(Rngs(1, dropout=2)), jnp.ones(4), jnp.ones((6, 4)))  # same structure
    assert len(traces) == 2


def test_python_values_broadcast_stay_concrete() -> None:
    @scan(in_axes=(Carry, 0, None, None), out_axes=(Carry, 0))
    def loop(h: jax.Array, x: jax.Array, n: int, name: str) -> tuple[jax.Array, jax.Array]:
        if n > 2 and name == "add":
            h = h + x
        return h, h.sum()

    h, _ = loop(jnp.zeros(2), jnp.ones((5, 2)), 3, "add")
    assert h.tolist() == [5.0, 5.0]
    h, _ = loop(jnp.zeros(2), jnp.ones((5, 2)), 1, "add")
    assert h.tolist() == [0.0, 0.0]


# -- case 23: axes are checked when the decorator is applied --------------------------------


def _body(a: Any, b: Any) -> Any:
    return a, b


@pytest.mark.parametrize(
    ("in_axes", "out_axes", "match"),
    [
        ((Carry, Carry), (Carry, 0), r"(?s)in_axes.*Carry.*in_axes\[0\] and in_axes\[1\].*Fix"),
        ((Carry, 0), (Carry, Carry), r"(?s)out_axes.*out_axes\[0\] and out_axes\[1\].*Fix"),
        ((0, 0), (Carry, 0), r"(?s)out_axes has Carry but in_axes has none.*Fix"),
        ((Carry, 0), (0, 0), r"(?s)in_axes has Carry but out_axes has none.*Fix"),
        ((Carry, 0), (Carry, None), r"(?s)out_axes\[1\] is None.*Fix"),
        ((Carry, "a"), (Carry, 0), r"(?s)in_axes\[1\] is 'a'.*Expected.*Fix"),
        ((Carry, 0.5), (Carry, 0), r"(?s)in_axes\[1\] is 0\.5.*Fix"),
        (((Carry, 0), 0), (Carry, 0), r"(?s)in_axes\[0\]\[0\].*top level.*Fix"),
        ((Carry, 0), (Carry, StateAxes({...: 0})), r"(?s)out_axes\[1\].*StateAxes.*Fix"),
    ],
)
def test_bad_axes_are_refused_when_decorating(in_axes: Any, out_axes: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        scan(_body, in_axes=in_axes, out_axes=out_axes)
    with pytest.raises(ValueError, match=match):
        scan(in_axes=in_axes, out_axes=out_axes)


def test_carry_inside_state_axes_beside_a_top_level_carry_is_accepted() -> None:
    scan(_body, in_axes=(StateAxes({"dropout": None, ...: Carry}), Carry), out_axes=(Carry, 0))
    scan(_body, in_axes=(Carry, (0, 1)), out_axes=(Carry, {"a": 0}))
