"""RNN and Bidirectional: same state and outputs as flax.nnx 0.12.8."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import Module, state
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")


def pure(module, flax=False):
    s = fnnx.to_pure_dict(fnnx.state(module)) if flax else state(module).to_pure_dict()
    return jax.tree.map(
        lambda v: (
            np.asarray(jax.random.key_data(v))
            if jnp.issubdtype(v.dtype, jax.dtypes.prng_key)
            else np.asarray(v)
        ),
        s,
    )


def assert_same_state(a, b):
    sa, sb = pure(a), pure(b, flax=True)
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6), sa, sb)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reverse": True}, {"reverse": True, "keep_order": True}, {"time_major": True}],
)
def test_rnn(kwargs):
    a = ours.RNN(ours.LSTMCell(3, 4, rngs=Rngs(0)), return_carry=True, **kwargs)
    b = fnnx.RNN(fnnx.LSTMCell(3, 4, rngs=fnnx.Rngs(0)), return_carry=True, **kwargs)
    assert_same_state(a, b)
    x = jax.random.normal(jax.random.key(1), (2, 5, 3))
    lengths = jnp.array([3, 5])
    for extra in ({}, {} if kwargs.get("time_major") else {"seq_lengths": lengths}):
        (ca, ya), (cb, yb) = a(x, **extra), b(x, **extra)
        np.testing.assert_allclose(ya, yb, atol=1e-5)
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), ca, cb)
    assert_same_state(a, b)


def test_bidirectional():
    a = ours.Bidirectional(
        ours.RNN(ours.GRUCell(3, 4, rngs=Rngs(0))), ours.RNN(ours.GRUCell(3, 4, rngs=Rngs(1)))
    )
    b = fnnx.Bidirectional(
        fnnx.RNN(fnnx.GRUCell(3, 4, rngs=fnnx.Rngs(0))),
        fnnx.RNN(fnnx.GRUCell(3, 4, rngs=fnnx.Rngs(1))),
    )
    assert_same_state(a, b)
    x = jax.random.normal(jax.random.key(1), (2, 5, 3))
    lengths = jnp.array([2, 5])
    np.testing.assert_allclose(a(x, seq_lengths=lengths), b(x, seq_lengths=lengths), atol=1e-5)
    np.testing.assert_allclose(a(x), b(x), atol=1e-5)


def dropout_cell(lib, base, rngs):
    """A cell whose output is its input through a Dropout drawing from ``self.rngs``."""

    class Cell(base):
        num_feature_axes = 1

        def __init__(self):
            self.rngs = rngs(dropout=1)
            self.drop = lib.Dropout(0.5)

        def __call__(self, carry, x):
            y = self.drop(x, rngs=self.rngs)
            return carry + y, y

        def initialize_carry(self, shape, rngs=None):
            return jnp.zeros(shape)

    return Cell()


@pytest.mark.parametrize("broadcast_rngs", [None, "dropout", ...])
@pytest.mark.parametrize("unroll", [1, 2])
def test_rnn_broadcast_rngs(broadcast_rngs, unroll):
    kwargs = {"broadcast_rngs": broadcast_rngs, "unroll": unroll}
    a = ours.RNN(dropout_cell(ours, Module, Rngs), **kwargs)
    b = fnnx.RNN(dropout_cell(fnnx, fnnx.Module, fnnx.Rngs), **kwargs)
    x = jax.random.normal(jax.random.key(1), (2, 5, 3))
    for _ in range(2):  # a new key on every call
        np.testing.assert_array_equal(a(x), b(x))
        assert_same_state(a, b)
