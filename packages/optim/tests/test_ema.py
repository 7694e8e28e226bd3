"""EMA: a moving average of a model's Variables, written the Flax NNX 0.12 way."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nnx_graph import Module, state
from nnx_optim import EMA, Optimizer
from nnx_variables import BatchStat, Param


class Model(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array([1.0, 2.0]), tag="weights")
        self.stat = BatchStat(jnp.zeros(2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * self.w[...] + self.stat[...]


def test_average_follows_the_formula_and_keeps_kinds_and_metadata():
    model = Model()
    ema = EMA(model, decay=0.9)
    assert ema.params["w"] is not model.w and type(ema.params["stat"]) is BatchStat
    assert ema.params["w"].get_metadata() == {"tag": "weights"}
    expected = np.array([1.0, 2.0])
    for step in range(3):
        model.w[...] = jnp.array([10.0, 20.0]) * (step + 1)
        ema.update(model)
        expected = 0.9 * expected + 0.1 * np.array([10.0, 20.0]) * (step + 1)
    np.testing.assert_allclose(ema.params["w"][...], expected, rtol=1e-6)


def test_only_selects_the_tracked_variables_and_updates_accept_a_state():
    model = Model()
    ema = EMA(model, 0.5, only=Param)
    assert set(ema.params) == {"w"}
    model.w[...] = jnp.array([3.0, 4.0])
    model.stat[...] = jnp.ones(2)
    ema.update(state(model))  # a State of the model works as well as the model
    np.testing.assert_allclose(ema.params["w"][...], [2.0, 3.0])


def test_apply_to_shares_the_averages_and_keeps_untracked_state():
    model = Model()
    ema = EMA(model, 0.5, only=Param)
    ema_model = ema.apply_to(model)
    assert ema_model.w is ema.params["w"] and ema_model.stat is model.stat
    model.w[...] = jnp.array([3.0, 4.0])
    ema.update(model)
    np.testing.assert_allclose(ema_model(jnp.ones(2)), [2.0, 3.0])  # sees later updates


def test_ema_in_a_jitted_training_step_as_flax_0_12_writes_it():
    transforms: Any = pytest.importorskip("nnx_transforms")
    model = Model()
    optimizer = Optimizer(model, optax.sgd(0.1), wrt=Param)
    ema = EMA(model, decay=0.9, only=Param)
    ema_model = ema.apply_to(model)

    @transforms.jit
    def train_step(model, optimizer, ema, x):
        grads = transforms.grad(lambda m: jnp.sum(m(x) ** 2))(model)
        optimizer.update(model, grads)
        ema.update(model)

    before = np.asarray(ema.params["w"][...])
    for _ in range(2):
        train_step(model, optimizer, ema, jnp.ones(2))
    assert not np.allclose(ema.params["w"][...], before)
    assert not np.allclose(ema.params["w"][...], model.w[...])
    np.testing.assert_allclose(ema_model.w[...], ema.params["w"][...])


def test_update_with_another_model_names_every_path_that_differs():
    model = Model()
    ema = EMA(model, 0.9)
    del model.stat
    model.extra = Param(jnp.ones(3))
    before = np.asarray(ema.params["w"][...])
    with pytest.raises(
        ValueError,
        match=r"(?s)EMA.update: the model does not.*model.stat: missing.*model.extra: "
        r"Array\(shape=\(3,\).*has no average.*Fix: ema = nnx.EMA\(model, decay\)",
    ):
        ema.update(model)
    np.testing.assert_array_equal(ema.params["w"][...], before)


def test_only_selecting_plain_arrays_is_refused():
    class Bare(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.ones(2))
            self.a = jnp.zeros(2)

    with pytest.raises(
        TypeError,
        match=r"(?s)nnx.EMA: the EMA averages Variables only.*model.a: Array.*"
        r"Fix: nnx.EMA\(model, decay, only=nnx.Param\)",
    ):
        EMA(Bare(), 0.9)


def test_tree_mode_ema_refuses_params_that_share_a_variable() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            self.a = Param(jnp.ones(2))
            self.b = self.a

    model = Tied()
    with pytest.raises(ValueError, match=r"params\.a and params\.b"):
        EMA(model, decay=0.9, graph=False)
    assert set(EMA(model, decay=0.9, graph=True).params.keys()) == {"a"}
