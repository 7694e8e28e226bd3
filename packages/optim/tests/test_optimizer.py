from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
import pytest

from nnx_graph import Module, Object, Variable, merge, split, state, update
from nnx_optim import Optimizer, OptState
from nnx_variables import BatchStat, Param, Rngs


class Model(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (3, 2)))
        self.b = Param(jnp.zeros((2,)))
        self.stat = BatchStat(jnp.zeros((2,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w + self.b


def _grads(model: Model) -> dict[str, Any]:
    x = jnp.ones((4, 3))

    def loss(p: dict[str, jax.Array]) -> jax.Array:
        return ((x @ p["w"] + p["b"]) ** 2).mean()

    return jax.grad(loss)({"w": model.w.value, "b": model.b.value})


def test_one_step_matches_a_hand_written_optax_loop() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))
    tx = optax.adam(1e-2)
    params = {"w": model.w.value, "b": model.b.value}
    opt_state = tx.init(params)
    for _ in range(3):
        grads = _grads(model)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        optimizer.update(grads)
    assert jnp.allclose(model.w.value, params["w"], atol=1e-6)
    assert jnp.allclose(model.b.value, params["b"], atol=1e-6)
    assert optimizer.step.value.dtype == jnp.uint32
    assert int(optimizer.step.value) == 3
    assert jnp.allclose(model.stat.value, 0.0)  # only wrt (Param) is touched


def test_the_newer_spelling_and_grads_from_states() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1))
    grads = state(model, Param)  # a State of VariableStates, as nnx.grad returns
    optimizer.update(model, grads)
    assert int(optimizer.step.value) == 1


def test_holds_the_model_by_reference_and_sharing_survives_split_merge() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-3))
    assert optimizer.model is model
    model_copy, optimizer_copy = merge(*split((model, optimizer)))
    assert optimizer_copy.model is model_copy


def test_opt_state_has_the_optax_structure_with_variables_as_leaves() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.adam(1e-3))
    adam_state = optimizer.opt_state[0]
    assert isinstance(adam_state.mu["w"], OptState)
    assert adam_state.mu["w"].value.shape == (3, 2)


def test_inside_jax_jit_through_split_merge_update() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))
    graphdef, st = split((model, optimizer))

    @jax.jit
    def step(st: Any) -> Any:
        m, opt = merge(graphdef, st)
        opt.update(_grads(m))
        return split((m, opt))[1]

    update((model, optimizer), step(st))
    assert int(optimizer.step.value) == 1
    reference = Model(Rngs(0))
    Optimizer(reference, optax.adam(1e-2)).update(_grads(reference))
    assert jnp.allclose(model.w.value, reference.w.value, atol=1e-6)


@pytest.mark.parametrize(
    "tx",
    [
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)),
        optax.adam(optax.linear_schedule(1e-2, 0.0, 10)),
        optax.masked(optax.adam(1e-3), {"w": True, "b": False}),
        optax.MultiSteps(optax.sgd(0.1), every_k_schedule=2),
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
        optax.multi_transform(
            {"a": optax.sgd(0.1), "b": optax.set_to_zero()}, {"w": "a", "b": "b"}
        ),
    ],
    ids=["chain", "schedule", "masked", "multisteps", "inject", "multi_transform"],
)
def test_works_with_any_optax_transformation(tx: optax.GradientTransformation) -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, tx)
    w0 = model.w.value
    for _ in range(2):
        optimizer.update(_grads(model))
    assert int(optimizer.step.value) == 2
    assert not jnp.allclose(model.w.value, w0)


def test_extra_args_reach_the_transformation() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.chain(optax.sgd(0.1), optax.contrib.reduce_on_plateau()))
    optimizer.update(_grads(model), value=jnp.array(1.0))
    assert int(optimizer.step.value) == 1


def test_inject_hyperparams_can_be_read_and_changed() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.inject_hyperparams(optax.sgd)(learning_rate=0.1))
    hyperparams = optimizer.opt_state.hyperparams
    assert float(hyperparams["learning_rate"].value) == pytest.approx(0.1)
    hyperparams["learning_rate"].value = jnp.array(0.5)
    assert float(optimizer.opt_state.hyperparams["learning_rate"].value) == pytest.approx(0.5)


def test_subclassing_to_add_metrics() -> None:
    class Tracked(Optimizer):
        def __init__(self, model: Model, tx: optax.GradientTransformation) -> None:
            super().__init__(model, tx)
            self.grad_norm = Variable(jnp.array(0.0))

        def update(self, grads: Any, /, **kwargs: Any) -> None:  # type: ignore[override]
            self.grad_norm.value = optax.tree.norm(grads)
            super().update(grads, **kwargs)

    model = Model(Rngs(0))
    tracked = Tracked(model, optax.sgd(0.1))
    tracked.update(_grads(model))
    assert float(tracked.grad_norm.value) > 0
    assert int(tracked.step.value) == 1


def test_grads_that_do_not_fit_are_listed_and_nothing_changes() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1))
    w0 = model.w.value
    with pytest.raises(
        ValueError, match=r"(?s)grads\['b'\]: missing.*grads\['z'\]: not a parameter.*Fix"
    ):
        optimizer.update({"w": jnp.ones((3, 2)), "z": jnp.ones(2)})
    assert jnp.array_equal(model.w.value, w0)
    assert int(optimizer.step.value) == 0


def test_wrong_model_and_empty_wrt_are_clear_errors() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"(?s)not the model this optimizer.*Fix"):
        optimizer.update(Model(Rngs(1)), _grads(model))

    class Count(Variable):
        pass

    with pytest.raises(ValueError, match=r"(?s)selects no Variable.*Fix: nnx.Optimizer"):
        Optimizer(model, optax.sgd(0.1), wrt=Count)
    with pytest.raises(TypeError, match=r"(?s)GradientTransformation.*Fix"):
        Optimizer(model, "adam")  # type: ignore[arg-type]


def test_an_object_holding_model_and_optimizer() -> None:
    class TrainState(Object):
        def __init__(self) -> None:
            self.model = Model(Rngs(0))
            self.optimizer = Optimizer(self.model, optax.sgd(0.1))

    ts = TrainState()
    copy = merge(*split(ts))
    assert copy.optimizer.model is copy.model
