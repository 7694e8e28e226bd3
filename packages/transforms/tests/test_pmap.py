"""nnx.pmap on 8 simulated CPU devices: the flax contract (vmap's, over devices)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import StateAxes, pmap
from nnx_variables import BatchStat, Param

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)


class Block(Module):
    def __init__(self, key: jax.Array) -> None:
        self.w = Param(jax.random.normal(key, (3,)))
        self.count = BatchStat(jnp.zeros(()))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.count.value = self.count.value + 1
        return x * self.w.value


def test_a_pmapped_constructor_gives_stacked_state_on_devices() -> None:
    m = pmap(Block, in_axes=0, out_axes=0)(jax.random.split(jax.random.key(0), 8))
    assert m.w.value.shape == (8, 3)
    assert len(m.w.value.sharding.device_set) == 8


def test_updates_come_back_and_collectives_work() -> None:
    m = pmap(Block)(jax.random.split(jax.random.key(0), 8))

    @pmap(axis_name="i", in_axes=(0, 0))
    def f(m: Block, x: jax.Array) -> jax.Array:
        return jax.lax.psum(m(x).sum(), "i")

    out = f(m, jnp.ones((8, 3)))
    assert out.shape == (8,)
    assert float(out[0]) == pytest.approx(float(m.w.value.sum()), rel=1e-5)
    assert m.count.value.shape == (8,) and float(m.count.value[0]) == 1.0
    f(m, jnp.ones((8, 3)))  # cached
    assert float(m.count.value[3]) == 2.0


def test_broadcast_object_with_state_axes_and_static_arguments() -> None:
    class Shared(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.full((3,), 2.0))
            self.stats = BatchStat(jnp.zeros((8,)))

    s = Shared()

    def f(scale: float, m: Shared, x: jax.Array) -> Any:
        m.stats.value = m.stats.value + 1
        return x * m.w.value * scale

    g = pmap(
        f,
        in_axes=(None, StateAxes({Param: None, BatchStat: 0}), 0),
        static_broadcasted_argnums=0,
    )
    y = g(10.0, s, jnp.ones((8, 3)))
    assert y.shape == (8, 3) and float(y[0, 0]) == 20.0
    assert float(s.stats.value[5]) == 1.0 and s.w.value.shape == (3,)


def test_a_raising_call_leaves_objects_unchanged() -> None:
    m = pmap(Block)(jax.random.split(jax.random.key(0), 8))

    def fails(m: Block) -> Any:
        m.count.value = m.count.value + 1
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        pmap(fails)(m)
    assert float(m.count.value.sum()) == 0.0


def test_donate_argnums_is_refused_with_the_fix() -> None:
    with pytest.raises(NotImplementedError, match=r"nnx\.jit\(\.\.\., donate_argnums"):
        pmap(lambda m: m, donate_argnums=0)
