"""The Optimizer inside ``nnx.jit`` with ``nnx.grad``: skipped where nnx-transforms is absent.

The optimizer only reads and writes Variable values and calls nnx_graph functions, which
is all the transforms need; these tests check that holds on their fast path too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nnx_graph import Module, Object, Variable
from nnx_optim import Optimizer
from nnx_variables import Param, Rngs

transforms: Any = pytest.importorskip("nnx_transforms")

X = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
Y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])


class Model(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (3, 2)))
        self.b = Param(jnp.zeros((2,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w + self.b


def _loss(model: Model) -> jax.Array:
    return ((model(X) - Y) ** 2).mean()


def _reference(steps: int) -> dict[str, jax.Array]:
    model = Model(Rngs(0))
    tx = optax.adam(1e-2)
    params = {"w": model.w.value, "b": model.b.value}
    opt_state = tx.init(params)
    for _ in range(steps):
        grads = jax.grad(lambda p: ((X @ p["w"] + p["b"] - Y) ** 2).mean())(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("spelling", ["grads", "model_grads"])
def test_a_jitted_train_step_matches_optax(spelling: str) -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))

    @transforms.jit
    def train_step(model: Model, optimizer: Optimizer) -> jax.Array:
        loss, grads = transforms.value_and_grad(_loss)(model)
        if spelling == "grads":
            optimizer.update(grads)
        else:
            optimizer.update(model, grads)
        return loss

    for _ in range(4):  # later calls take the fast path
        train_step(model, optimizer)
    expected = _reference(4)
    assert optimizer.step.value == 4
    assert optimizer.step.value.dtype == jnp.uint32
    np.testing.assert_allclose(model.w.value, expected["w"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.b.value, expected["b"], rtol=1e-6, atol=1e-7)


def test_extra_args_and_hyperparams_changed_between_jitted_calls() -> None:
    model = Model(Rngs(0))
    tx = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
        optax.contrib.reduce_on_plateau(patience=1, cooldown=0),
    )
    optimizer = Optimizer(model, tx)

    @transforms.jit
    def train_step(model: Model, optimizer: Optimizer) -> None:
        loss, grads = transforms.value_and_grad(_loss)(model)
        optimizer.update(model, grads, value=loss)

    train_step(model, optimizer)
    optimizer.opt_state[0].hyperparams["learning_rate"].value = jnp.array(0.0)
    b = model.b.value
    for _ in range(3):
        train_step(model, optimizer)
    assert jnp.array_equal(model.b.value, b)  # the new learning rate reached the step
    # the loss stopped improving, so reduce_on_plateau (fed value=loss) cut its scale
    assert float(optimizer.opt_state[1].scale.value) < 1.0
    assert optimizer.step.value == 4


def test_a_subclass_with_metrics_under_nnx_jit() -> None:
    class Average(Object):
        def __init__(self) -> None:
            self.total = Variable(jnp.array(0.0))
            self.count = Variable(jnp.array(0))

    class TrainState(Optimizer):
        def __init__(self, model: Model, tx: optax.GradientTransformation) -> None:
            self.metrics = Average()
            super().__init__(model, tx)

        def update(self, *, grads: Any, loss: jax.Array) -> None:  # type: ignore[override]
            self.metrics.total.value = self.metrics.total.value + loss
            self.metrics.count.value = self.metrics.count.value + 1
            super().update(grads)

    model = Model(Rngs(0))
    state = TrainState(model, optax.adam(1e-2))

    @transforms.jit
    def train_step(state: TrainState) -> jax.Array:
        loss, grads = transforms.value_and_grad(_loss)(state.model)
        state.update(grads=grads, loss=loss)
        return loss

    losses = [float(train_step(state)) for _ in range(3)]
    assert state.step.value == 3
    assert int(state.metrics.count.value) == 3
    assert float(state.metrics.total.value) == pytest.approx(sum(losses), rel=1e-6)
    np.testing.assert_allclose(model.w.value, _reference(3)["w"], rtol=1e-6, atol=1e-7)


def test_model_surgery_between_jitted_steps_names_the_path_and_the_fix() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))

    @transforms.jit
    def train_step(model: Model, optimizer: Optimizer) -> jax.Array:
        loss, grads = transforms.value_and_grad(_loss)(model)
        optimizer.update(model, grads)
        return loss

    train_step(model, optimizer)
    model.scale = Param(jnp.ones(2))  # a new parameter: the next call retraces
    with pytest.raises(
        ValueError,
        match=r"(?s)model\.scale: Array\(shape=\(2,\), dtype=float32\) was added after the "
        r"Optimizer was built.*Fix: optimizer = nnx\.Optimizer\(model, optimizer\.tx",
    ):
        train_step(model, optimizer)
    assert int(optimizer.step.value) == 1


class WithStats(Module):
    """A model with state beside its Params, as BatchNorm has."""

    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (3, 2)))
        self.seen = Variable(jnp.array(0.0))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.seen.value += 1
        return x @ self.w * (1 + 0 * self.seen.value)


def test_flax_0_12_tree_mode_train_step() -> None:
    # Flax NNX 0.12 code: model and optimizer passed separately in tree mode, gradients
    # as a module (every Variable differentiated), the Optimizer picking its wrt from them.
    model = WithStats(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1), wrt=Param)

    @transforms.jit(graph=False)
    def step(model: WithStats, optimizer: Optimizer) -> jax.Array:
        loss, grads = transforms.value_and_grad(
            lambda m: ((m(X) - Y[:, :2]) ** 2).mean(), graph=False
        )(model)
        assert type(grads) is WithStats
        optimizer.update(model, grads)
        return loss

    expected = Model(Rngs(0)).w.value
    for _ in range(3):
        x_grad = jax.grad(lambda w: ((X @ w - Y) ** 2).mean())(expected)
        expected = expected - 0.1 * x_grad
        step(model, optimizer)
    np.testing.assert_allclose(model.w.value, expected, rtol=1e-6)
    assert float(model.seen.value) == 3.0 and int(optimizer.step.value) == 3


def test_update_takes_a_state_with_more_kinds_than_wrt() -> None:
    model = WithStats(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(1.0), wrt=Param)
    grads = transforms.grad(lambda m: (m(X) ** 2).sum(), graph=False)(model)
    w = model.w.value
    optimizer.update(model, transforms.grad(lambda m: (m(X) ** 2).sum(), graph=False)(model))
    np.testing.assert_allclose(model.w.value, w - grads.w.value)
    with pytest.raises(ValueError, match=r"grads\.x: .* not a parameter"):
        optimizer.update(model, {"w": grads.w.value, "x": jnp.ones(())})  # arrays: checked


def test_tree_mode_optimizer_refuses_a_model_that_shares_a_variable() -> None:
    model = Model(Rngs(0))
    model.tied = model.w
    with pytest.raises(ValueError, match=r"model\.tied and model\.w"):
        Optimizer(model, optax.sgd(0.1), graph=False)
    assert Optimizer(model, optax.sgd(0.1)).model is model  # graph mode keeps the sharing
