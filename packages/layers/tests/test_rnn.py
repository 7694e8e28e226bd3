"""RNN and Bidirectional against a Python loop over the cell's steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import Module
from nnx_layers import RNN, Bidirectional, Dropout, GRUCell, LSTMCell, SimpleCell
from nnx_transforms import jit
from nnx_variables import Rngs


def loop(cell, x, carry=None):
    """Step the cell eagerly over axis 1 of ``x`` (batch-major)."""
    carry = cell.initialize_carry(x[:, 0].shape) if carry is None else carry
    ys = []
    for t in range(x.shape[1]):
        carry, y = cell(carry, x[:, t])
        ys.append(y)
    return carry, jnp.stack(ys, axis=1)


@pytest.fixture
def x():
    return jax.random.normal(jax.random.key(0), (2, 5, 3))


@pytest.mark.parametrize("cell_type", [SimpleCell, LSTMCell, GRUCell])
def test_rnn_is_the_cell_stepped_over_time(cell_type, x):
    rnn = RNN(cell_type(3, 4, rngs=Rngs(0)), return_carry=True)
    carry, ys = rnn(x)
    want_carry, want_ys = loop(rnn.cell, x)
    np.testing.assert_allclose(ys, want_ys, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), carry, want_carry)


def test_time_major_matches_batch_major(x):
    rnn = RNN(GRUCell(3, 4, rngs=Rngs(0)))
    ys = rnn(jnp.swapaxes(x, 0, 1), time_major=True)
    np.testing.assert_allclose(jnp.swapaxes(ys, 0, 1), rnn(x), atol=1e-6)


def test_reverse_and_keep_order(x):
    rnn = RNN(SimpleCell(3, 4, rngs=Rngs(0)))
    _, want = loop(rnn.cell, x[:, ::-1])
    np.testing.assert_allclose(rnn(x, reverse=True), want, atol=1e-6)
    np.testing.assert_allclose(rnn(x, reverse=True, keep_order=True), want[:, ::-1], atol=1e-6)


def test_seq_lengths_pick_each_last_valid_carry_and_flip_within_length(x):
    rnn = RNN(GRUCell(3, 4, rngs=Rngs(0)))
    lengths = jnp.array([3, 5])
    carry, ys = rnn(x, seq_lengths=lengths, return_carry=True)
    for b, n in enumerate([3, 5]):
        want_carry, want_ys = loop(rnn.cell, x[b : b + 1, :n])
        np.testing.assert_allclose(carry[b], want_carry[0], atol=1e-6)
        np.testing.assert_allclose(ys[b, :n], want_ys[0], atol=1e-6)
        _, back = loop(rnn.cell, x[b : b + 1, :n][:, ::-1])
        got = rnn(x, seq_lengths=lengths, reverse=True, keep_order=True)
        np.testing.assert_allclose(got[b, :n], back[0, ::-1], atol=1e-6)


def test_initial_carry_and_jit(x):
    rnn = RNN(LSTMCell(3, 4, rngs=Rngs(0)))
    start = (jnp.ones((2, 4)), jnp.ones((2, 4)))
    _, want = loop(rnn.cell, x, start)
    got = jit(lambda rnn, x: rnn(x, initial_carry=start))(rnn, x)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_bidirectional_concatenates_forward_and_time_ordered_backward(x):
    forward = RNN(GRUCell(3, 4, rngs=Rngs(0)))
    backward = RNN(GRUCell(3, 4, rngs=Rngs(1)))
    (carry_f, carry_b), ys = Bidirectional(forward, backward, return_carry=True)(x)
    want_f_carry, want_f = loop(forward.cell, x)
    want_b_carry, want_b = loop(backward.cell, x[:, ::-1])
    np.testing.assert_allclose(ys, jnp.concatenate([want_f, want_b[:, ::-1]], -1), atol=1e-6)
    np.testing.assert_allclose(carry_f, want_f_carry, atol=1e-6)
    np.testing.assert_allclose(carry_b, want_b_carry, atol=1e-6)


def test_bf16_dtype_with_float32_params(x):
    low = RNN(LSTMCell(3, 4, dtype=jnp.bfloat16, rngs=Rngs(0)))
    full = RNN(LSTMCell(3, 4, rngs=Rngs(0)))
    ys = low(x)
    assert low.cell.ii.kernel.value.dtype == jnp.float32
    np.testing.assert_allclose(ys, loop(low.cell, x)[1], atol=1e-2)
    np.testing.assert_allclose(ys.astype(jnp.float32), full(x), atol=3e-2)


def test_bad_rngs_names_the_fix():
    with pytest.raises(TypeError, match=r"nnx\.RNN.*\n.*Fix: nnx\.RNN\(\.\.\., rngs=nnx\.Rngs"):
        RNN(SimpleCell(3, 4, rngs=Rngs(0)), rngs="seed")


class DropoutCell(Module):
    """A cell whose output is its input through a Dropout drawing from ``self.rngs``."""

    num_feature_axes = 1

    def __init__(self, seed):
        self.rngs = Rngs(dropout=seed)
        self.drop = Dropout(0.5)

    def __call__(self, carry, x):
        y = self.drop(x, rngs=self.rngs)
        return carry + y, y

    def initialize_carry(self, shape, rngs=None):
        return jnp.zeros(shape)


def expected_mask(key, count, shape):
    """The keep mask Dropout(0.5) draws from a stream's ``key`` at ``count``."""
    return np.asarray(jax.random.bernoulli(jax.random.fold_in(key, count), 0.5, shape))


def test_broadcast_rngs_draws_one_split_key_for_every_step():
    rnn = RNN(DropoutCell(1), broadcast_rngs="dropout")
    x = jnp.ones((2, 4, 3))
    for call in range(2):
        # flax's split_rngs(splits=1, squeeze=True): the stream's next key, split once;
        # the steps all draw from it at count 0.
        key = jax.random.split(jax.random.fold_in(jax.random.key(1), call), 1)[0]
        mask = expected_mask(key, 0, (2, 3))
        want = np.where(mask, 2.0, 0.0)[:, None, :].repeat(4, axis=1)
        np.testing.assert_array_equal(rnn(x), want)
        assert int(rnn.cell.rngs.dropout.count.value) == call + 1
        assert jax.random.key_data(rnn.cell.rngs.dropout.key.value).tolist() == [0, 1]


def test_without_broadcast_rngs_each_step_draws_its_own_key():
    rnn = RNN(DropoutCell(1))
    ys = np.asarray(rnn(jnp.ones((2, 4, 3))))
    want = [np.where(expected_mask(jax.random.key(1), t, (2, 3)), 2.0, 0.0) for t in range(4)]
    np.testing.assert_array_equal(ys, np.stack(want, axis=1))
    assert int(rnn.cell.rngs.dropout.count.value) == 4


def test_broadcast_rngs_restores_the_stream_after_an_error():
    rnn = RNN(DropoutCell(1), broadcast_rngs="dropout")
    with pytest.raises(TypeError):
        rnn(jnp.ones((2, 4, 3)), initial_carry="not an array")
    assert int(rnn.cell.rngs.dropout.count.value) == 0
    assert rnn.cell.rngs.dropout.key.value.shape == ()
