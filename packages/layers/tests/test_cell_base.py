"""RNNCellBase: the members a cell must define, and RNN over a user's cell."""

import jax.numpy as jnp
import numpy as np
import pytest

from nnx_layers import RNN, GRUCell, Linear, LSTMCell, OptimizedLSTMCell, RNNCellBase, SimpleCell
from nnx_variables import Rngs


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
