"""RNN and Bidirectional against a Python loop over the cell's steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import Module
from nnx_layers import (
    RNN,
    Bidirectional,
    Dropout,
    GRUCell,
    LSTMCell,
    OptimizedLSTMCell,
    SimpleCell,
    initializers,
)
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


CELLS = [SimpleCell, LSTMCell, OptimizedLSTMCell, GRUCell]
PARTS = {SimpleCell: 1, LSTMCell: 2, OptimizedLSTMCell: 2, GRUCell: 1}

# flax 0.12.8, final_carry[0, :3] (c, then h, for the LSTMs) of RNN(cell, return_carry=True)
# over ones((2, 5, 3)) for a cell built with carry_init=normal(1.0), rngs=nnx.Rngs(0):
# "default" is RNN's own stream (rngs=True), "call" passes rngs=nnx.Rngs(carry=4) to the
# call, "kept" is RNN(rngs=False) over a cell built with keep_rngs=True as well.
NORMAL_CARRY = {
    SimpleCell: {
        "default": [[-0.99761653, -0.74465698, -0.0703649]],
        "call": [[-0.99639517, -0.84069741, -0.32850099]],
        "kept": [[0.71096522, -0.5387156, -0.32130599]],
    },
    LSTMCell: {
        "default": [[0.63506919, -0.0522368, -0.1559864], [0.1584419, -0.0443863, -0.107092]],
        "call": [[0.64202279, -0.055812, -0.15191209], [0.1621742, -0.047393, -0.1048625]],
        "kept": [[-0.23862959, 0.8030169, 0.26468039], [-0.0476044, 0.3652013, 0.1022078]],
    },
    OptimizedLSTMCell: {
        "default": [[0.73341471, -0.73581839, -0.14927], [0.0576504, -0.36347139, -0.1368564]],
        "call": [[0.73207039, -0.74844921, -0.131676], [0.0572009, -0.36610949, -0.1209578]],
        "kept": [[-0.1172211, -0.0576996, 0.1036956], [-0.0360034, -0.0153914, 0.063639]],
    },
    GRUCell: {
        "default": [[0.1647895, -0.499181, -0.2659871]],
        "call": [[0.3763425, -0.35666421, 0.80225879]],
        "kept": [[-0.92180371, 0.90891713, -0.11221469]],
    },
}


def assert_first_rows(carry, want):
    got = jax.tree.leaves(carry)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g[0, :3], w, atol=1e-6)


def normal_cell(make, **kwargs):
    with pytest.warns(UserWarning):  # carry_init (and keep_rngs) in the constructor
        return make(3, 4, carry_init=initializers.normal(1.0), rngs=Rngs(0), **kwargs)


@pytest.mark.parametrize("make", CELLS)
def test_rnn_draws_the_carry_from_its_own_stream_or_the_calls(make):
    rnn = RNN(normal_cell(make), return_carry=True)
    carry, _ = rnn(jnp.ones((2, 5, 3)))
    assert_first_rows(carry, NORMAL_CARRY[make]["default"])
    assert int(rnn.rngs.count.value) == PARTS[make]
    carry, _ = rnn(jnp.ones((2, 5, 3)), rngs=Rngs(carry=4))
    assert_first_rows(carry, NORMAL_CARRY[make]["call"])
    assert int(rnn.rngs.count.value) == PARTS[make]


@pytest.mark.parametrize("make", CELLS)
def test_rnn_without_rngs_uses_the_stream_the_cell_kept(make):
    cell = normal_cell(make, keep_rngs=True)
    carry, _ = RNN(cell, rngs=False, return_carry=True)(jnp.ones((2, 5, 3)))
    assert_first_rows(carry, NORMAL_CARRY[make]["kept"])
    assert int(cell.rngs.count.value) == PARTS[make]
    # With rngs (here RNN's default stream) the kept stream is left alone, as in flax.
    with pytest.warns(UserWarning, match="keep_rngs"):
        cell = make(3, 4, keep_rngs=True, rngs=Rngs(0))
    RNN(cell)(jnp.ones((2, 5, 3)))
    assert int(cell.rngs.count.value) == 0


def test_rnn_without_any_rngs_starts_from_zeros(x):
    # flax 0.12.8 raises ValueError (no keys for the zeros); 0.10.7 had no rngs=False.
    rnn = RNN(GRUCell(3, 4, rngs=Rngs(0)), rngs=False)
    np.testing.assert_allclose(rnn(x), loop(rnn.cell, x)[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"nnx\.GRUCell\.initialize_carry(.|\n)*Fix"):
        RNN(normal_cell(GRUCell), rngs=False)(x)


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
