"""split_inputs / merge_inputs: lifting plain JAX transforms to Objects by hand."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import merge_inputs, split_inputs
from nnx_variables import BatchStat, Param


class Linear(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones((2, 2)))
        self.count = BatchStat(jnp.zeros(()))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w.value


def test_jit_with_mutation_coming_out() -> None:
    @split_inputs
    @jax.jit
    @merge_inputs
    def forward_and_zero(m: Linear, x: jax.Array) -> jax.Array:
        y = m(x)
        m.w.value = m.w.value * 0
        return y

    m = Linear()
    y = forward_and_zero(m, jnp.ones((1, 2)))
    assert y.shape == (1, 2) and float(y[0, 0]) == 2.0
    assert float(jnp.abs(m.w.value).sum()) == 0.0


def test_cond_over_merged_branches() -> None:
    m = Linear()
    y = split_inputs(jax.lax.cond)(
        False,
        merge_inputs(lambda m, x: m(x)),
        merge_inputs(lambda m, x: x + 1),
        m,
        jnp.ones((1, 2)),
    )
    assert float(y[0, 0]) == 2.0


def test_vmap_with_output_arrangement_and_sharing() -> None:
    class Pair(Module):
        def __init__(self, a: Linear) -> None:
            self.a = a
            self.b = a

    m = Linear()
    pair = Pair(m)
    in_axes = (None, 0)

    @split_inputs
    @functools.partial(jax.vmap, in_axes=in_axes, out_axes=(in_axes, 0))
    @merge_inputs
    def forward(p: Pair, x: jax.Array) -> Any:
        assert p.a is p.b
        return p.a(x)

    y = forward(pair, jnp.ones((10, 2)))
    assert y.shape == (10, 2) and pair.a is pair.b is m


def test_returned_objects_are_rebuilt() -> None:
    @split_inputs
    @jax.jit
    @merge_inputs
    def make(x: jax.Array) -> Linear:
        m = Linear()
        m.count.value = x
        return m

    m = make(jnp.array(3.0))
    assert isinstance(m, Linear) and float(m.count.value) == 3.0


def test_an_unpaired_split_says_how_to_pair() -> None:
    with pytest.raises(TypeError, match=r"@split_inputs @jax.jit @merge_inputs"):
        split_inputs(lambda m: 1)(Linear())
