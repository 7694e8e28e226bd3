"""Recurrent cells against their equations written out in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_layers import (
    RNN,
    GRUCell,
    Linear,
    LSTMCell,
    OptimizedLSTMCell,
    RNNCellBase,
    SimpleCell,
    initializers,
)
from nnx_variables import Rngs

X = jax.random.normal(jax.random.key(0), (2, 3))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def dense(layer, x):
    y = np.asarray(x, np.float64) @ np.asarray(layer.kernel.value, np.float64)
    return y if layer.bias is None else y + np.asarray(layer.bias.value)


def test_simple_cell():
    cell = SimpleCell(3, 4, residual=True, rngs=Rngs(0))
    h0 = jax.random.normal(jax.random.key(1), (2, 4))
    h, y = cell(h0, X)
    np.testing.assert_allclose(
        h, np.tanh(dense(cell.dense_i, X) + dense(cell.dense_h, h0) + h0), atol=1e-5
    )
    np.testing.assert_array_equal(h, y)


def test_lstm_cells_agree_with_the_equations_and_each_other():
    cell = LSTMCell(3, 4, rngs=Rngs(0))
    c0, h0 = (jax.random.normal(k, (2, 4)) for k in jax.random.split(jax.random.key(1)))
    (c, h), _ = cell((c0, h0), X)
    gate = {
        n: dense(getattr(cell, "i" + n), X) + dense(getattr(cell, "h" + n.rstrip("_")), h0)
        for n in ["i", "f_", "g", "o"]
    }
    expected_c = sigmoid(gate["f_"]) * c0 + sigmoid(gate["i"]) * np.tanh(gate["g"])
    np.testing.assert_allclose(c, expected_c, atol=1e-5)
    np.testing.assert_allclose(h, sigmoid(gate["o"]) * np.tanh(expected_c), atol=1e-5)
    fused = OptimizedLSTMCell(3, 4, rngs=Rngs(0))
    fused.dense_i.kernel.value = jnp.concatenate(
        [getattr(cell, n).kernel.value for n in ["ii", "if_", "ig", "io"]], -1
    )
    fused.dense_h.kernel.value = jnp.concatenate(
        [getattr(cell, n).kernel.value for n in ["hi", "hf", "hg", "ho"]], -1
    )
    (c2, h2), _ = fused((c0, h0), X)
    np.testing.assert_allclose(c2, c, atol=1e-5)
    np.testing.assert_allclose(h2, h, atol=1e-5)


def test_gru_cell():
    cell = GRUCell(3, 4, rngs=Rngs(0))
    h0 = jax.random.normal(jax.random.key(1), (2, 4))
    h, _ = cell(h0, X)
    xr, xz, xn = np.split(dense(cell.dense_i, X), 3, -1)
    hr, hz, hn = np.split(dense(cell.dense_h, h0), 3, -1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    np.testing.assert_allclose(h, (1 - z) * np.tanh(xn + r * hn) + z * h0, atol=1e-5)


def test_initialize_carry():
    assert LSTMCell(3, 4, rngs=Rngs(0)).initialize_carry((5, 2, 3))[0].shape == (5, 2, 4)
    cell = GRUCell(3, 4, rngs=Rngs(0))
    assert float(jnp.abs(cell.initialize_carry((2, 3))).sum()) == 0.0
    drawn = cell.initialize_carry((2, 3), rngs=Rngs(carry=1), carry_init=initializers.normal())
    assert float(jnp.abs(drawn).sum()) > 0
    with pytest.raises(ValueError, match=r"no rngs were given(.|\n)*Fix"):
        cell.initialize_carry((2, 3), carry_init=initializers.normal())


@pytest.mark.parametrize("make", [SimpleCell, LSTMCell, OptimizedLSTMCell, GRUCell])
def test_bf16_compute_with_float32_params(make):
    cell = make(3, 4, dtype=jnp.bfloat16, rngs=Rngs(0))
    # The carry is created in param_dtype (as flax does); a bf16 carry stays bf16.
    carry = jax.tree.map(lambda c: c.astype(jnp.bfloat16), cell.initialize_carry((2, 3)))
    _, y = cell(carry, X.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    assert all(
        p.value.dtype == jnp.float32
        for p in jax.tree.leaves(cell, is_leaf=lambda v: hasattr(v, "value"))
        if hasattr(p, "value")
    )


@pytest.mark.parametrize("cell_type", [SimpleCell, LSTMCell, OptimizedLSTMCell, GRUCell])
def test_built_in_cells_are_rnn_cell_bases(cell_type):
    assert isinstance(cell_type(3, 4, rngs=Rngs(0)), RNNCellBase)


def test_rnn_cell_base_members_raise_not_implemented_until_overridden():
    class Bare(RNNCellBase):
        pass

    cell = Bare()
    # flax 0.12.8 and 0.10.7 raise a bare NotImplementedError from all three.
    with pytest.raises(
        NotImplementedError,
        match=r"(?s)Bare\.initialize_carry: the cell does not define initialize_carry.*"
        r"Fix: class Bare\(nnx\.RNNCellBase\):\n    def initialize_carry\(self, input_shape",
    ):
        cell.initialize_carry((1, 2))
    with pytest.raises(NotImplementedError, match=r"(?s)Bare\.__call__.*def __call__\(self"):
        cell(None, None)
    with pytest.raises(NotImplementedError, match=r"(?s)Bare\.num_feature_axes.*@property"):
        cell.num_feature_axes  # noqa: B018


def test_rnn_runs_a_user_defined_cell():
    class MyCell(RNNCellBase):
        def __init__(self, n, rngs):
            self.lin = Linear(n, n, rngs=rngs)

        def initialize_carry(self, input_shape, rngs=None, carry_init=None):
            return jnp.zeros((*input_shape[:-1], 2))

        def __call__(self, carry, x):
            h = jnp.tanh(self.lin(x)) + carry
            return h, h

        @property
        def num_feature_axes(self):
            return 1

    y = RNN(MyCell(2, Rngs(0)))(jnp.ones((3, 4, 2)))
    assert y.shape == (3, 4, 2)
    # flax 0.12.8 and 0.10.7 printed y[0, :, 0] for the same cell and seed:
    np.testing.assert_allclose(y[0, :, 0], [0.18571575, 0.3714315, 0.55714726, 0.742863], rtol=1e-6)


def test_num_feature_axes_is_read_only_on_the_base():
    class Assigns(RNNCellBase):
        def __init__(self):
            self.num_feature_axes = 1

    # flax 0.12.8: AttributeError "property 'num_feature_axes' of 'C' object has no setter"
    with pytest.raises(AttributeError, match="has no setter"):
        Assigns()
