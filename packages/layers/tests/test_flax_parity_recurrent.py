"""Recurrent cells: same constructor and seed, same state and step as flax.nnx 0.12.8."""

import jax
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import state
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")


@pytest.mark.parametrize("name", ["SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell"])
def test_same_state_and_step(name):
    a = getattr(ours, name)(3, 4, rngs=Rngs(0))
    b = getattr(fnnx, name)(3, 4, rngs=fnnx.Rngs(0))
    sa = jax.tree.map(np.asarray, state(a).to_pure_dict())
    sb = jax.tree.map(np.asarray, fnnx.to_pure_dict(fnnx.state(b)))
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6), sa, sb)
    x = jax.random.normal(jax.random.key(1), (2, 3))
    carry_a = a.initialize_carry(x.shape)
    carry_b = b.initialize_carry(x.shape, rngs=fnnx.Rngs(0))
    jax.tree.map(np.testing.assert_array_equal, carry_a, carry_b)
    for _ in range(2):
        (carry_a, ya), (carry_b, yb) = a(carry_a, x), b(carry_b, x)
        np.testing.assert_allclose(ya, yb, atol=1e-5)
