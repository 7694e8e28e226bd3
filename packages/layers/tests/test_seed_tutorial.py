"""The layer cells of the seed tutorial (flax_basics.md), written the way a user writes them."""

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers
from nnx_graph import Module
from nnx_variables import Param, Rngs


@pytest.fixture(autouse=True)
def strict_rank_promotion() -> Iterator[None]:
    """User code in the tutorial relies on JAX's default broadcasting (``x @ w + b``)."""
    yield


class Linear(Module):
    def __init__(self, din: int, dout: int, *, rngs: Rngs):
        key = rngs.params()
        self.w = Param(jax.random.uniform(key, (din, dout)))
        self.b = Param(jnp.zeros((dout,)))
        self.din, self.dout = din, dout

    def __call__(self, x: jax.Array):
        return x @ self.w + self.b


class MLP(Module):
    def __init__(self, din: int, dmid: int, dout: int, *, rngs: Rngs):
        self.linear1 = Linear(din, dmid, rngs=rngs)
        self.dropout = nnx_layers.Dropout(rate=0.1, rngs=rngs)
        self.bn = nnx_layers.BatchNorm(dmid, rngs=rngs)
        self.linear2 = Linear(dmid, dout, rngs=rngs)

    def __call__(self, x: jax.Array):
        x = nnx_layers.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


class LoraParam(Param):
    pass


class LoraLinear(Module):
    def __init__(self, linear: Linear, rank: int, rngs: Rngs):
        self.linear = linear
        self.A = LoraParam(jax.random.normal(rngs(), (linear.din, rank)))
        self.B = LoraParam(jax.random.normal(rngs(), (rank, linear.dout)))

    def __call__(self, x: jax.Array):
        return self.linear(x) + x @ self.A @ self.B


def test_mlp_builds_and_runs_eagerly():
    rngs = Rngs(0)
    model = MLP(2, 16, 5, rngs=rngs)
    assert model.dropout.rngs is rngs
    y = model(x=jnp.ones((3, 2)))
    assert y.shape == (3, 5)
    # linear1, bn scale, bn bias, linear2 took params keys (from default); dropout one key
    assert int(rngs.default.count.value) == 5


def test_mlp_loss_matches_the_reference_before_the_first_update():
    # expected_values.md: the train_step cell prints loss = 1.0000625 for this model and
    # batch; the loss is computed before the optimizer update, so the eager forward pass
    # must give it (up to float32 rounding of a different XLA build).
    model = MLP(2, 16, 10, rngs=Rngs(0))
    x, y = jnp.ones((5, 2)), jnp.ones((5, 10))
    loss = jnp.mean((model(x) - y) ** 2)
    np.testing.assert_allclose(float(loss), 1.0000625, rtol=1e-6)


def test_lora_surgery_cell_runs():
    rngs = Rngs(0)
    model = MLP(2, 32, 5, rngs=rngs)
    model.linear1 = LoraLinear(model.linear1, 4, rngs=rngs)
    model.linear2 = LoraLinear(model.linear2, 4, rngs=rngs)
    y = model(x=jnp.ones((3, 2)))
    assert y.shape == (3, 5)
    assert isinstance(model.linear1.A, LoraParam)


def test_eval_then_train():
    model = MLP(2, 16, 5, rngs=Rngs(0))
    x = jnp.ones((3, 2))
    model.eval()
    mean = model.bn.mean.value
    np.testing.assert_array_equal(model(x), model(x))
    np.testing.assert_array_equal(model.bn.mean.value, mean)
    model.train()
    model(x)
    assert not np.array_equal(model.bn.mean.value, mean)
    assert model.dropout.deterministic is False
