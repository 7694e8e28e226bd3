from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nnx_graph import Module, Object, State, Variable, merge, split, state, update
from nnx_optim import OptArray, Optimizer, OptState, OptVariable
from nnx_variables import BatchStat, Param, Rngs

X = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
Y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])


class Model(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (3, 2)))
        self.b = Param(jnp.zeros((2,)))
        self.stat = BatchStat(jnp.zeros((2,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w + self.b


def _loss(params: dict[str, jax.Array]) -> jax.Array:
    return ((X @ params["w"] + params["b"] - Y) ** 2).mean()


def _params(model: Model) -> dict[str, jax.Array]:
    return {"w": model.w.value, "b": model.b.value}


def _grads(model: Model) -> dict[str, jax.Array]:
    return jax.grad(_loss)(_params(model))


def _as_state(grads: dict[str, jax.Array]) -> State:
    """Gradients the way nnx.grad returns them: a State of Param VariableStates."""
    grad_state = state(Model(Rngs(0)), Param)
    grad_state.replace_by_pure_dict(grads)
    return grad_state


def _reference_loop(tx: optax.GradientTransformation, params: Any, steps: int) -> Any:
    opt_state = tx.init(params)
    for _ in range(steps):
        updates, opt_state = tx.update(jax.grad(_loss)(params), opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_one_adam_step_matches_optax_and_counts_in_uint32() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))
    expected = _reference_loop(optax.adam(1e-2), _params(model), 1)
    optimizer.update(_as_state(_grads(model)))
    assert optimizer.step.value.dtype == jnp.uint32
    assert optimizer.step.value == 1
    np.testing.assert_allclose(model.w.value, expected["w"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.b.value, expected["b"], rtol=1e-6, atol=1e-7)
    assert jnp.array_equal(model.stat.value, jnp.zeros(2))  # only wrt (Param) is touched


# One contract test over every kind of optax transformation the optimizer must drive:
# three steps of it equal three steps of a hand-written optax loop.
TRANSFORMATIONS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": lambda: optax.sgd(0.1, momentum=0.9),
    "adamw": lambda: optax.adamw(1e-2, weight_decay=0.1),
    "chain": lambda: optax.chain(optax.clip_by_global_norm(0.1), optax.adam(1e-2)),
    "schedule": lambda: optax.adam(optax.linear_schedule(1e-1, 1e-3, 3)),
    "masked": lambda: optax.masked(optax.adam(1e-2), {"w": True, "b": False}),
    "masked_fn": lambda: optax.masked(
        optax.sgd(0.1), lambda p: jax.tree_util.tree_map(lambda x: x.ndim > 1, p)
    ),
    "multisteps": lambda: optax.MultiSteps(optax.sgd(0.1), every_k_schedule=2),
    "inject": lambda: optax.inject_hyperparams(optax.adam)(learning_rate=1e-2),
    "multi_transform": lambda: optax.multi_transform(
        {"fast": optax.sgd(0.1), "frozen": optax.set_to_zero()}, {"w": "fast", "b": "frozen"}
    ),
}


@pytest.mark.parametrize("name", list(TRANSFORMATIONS))
def test_any_optax_transformation_matches_a_hand_written_loop(name: str) -> None:
    model = Model(Rngs(0))
    expected = _reference_loop(TRANSFORMATIONS[name](), _params(model), 3)
    optimizer = Optimizer(model, TRANSFORMATIONS[name]())
    for _ in range(3):
        optimizer.update(_grads(model))
    assert optimizer.step.value == 3
    np.testing.assert_allclose(model.w.value, expected["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.b.value, expected["b"], rtol=1e-5, atol=1e-6)


def test_multisteps_applies_the_mean_of_k_gradients_every_k_updates() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.MultiSteps(optax.sgd(1.0), every_k_schedule=2))
    w0 = model.w.value
    g1 = jnp.ones((3, 2))
    optimizer.update({"w": g1, "b": jnp.zeros(2)})
    assert jnp.array_equal(model.w.value, w0)  # accumulated, not applied
    optimizer.update({"w": 3 * g1, "b": jnp.zeros(2)})
    np.testing.assert_allclose(model.w.value, w0 - 2 * g1, rtol=1e-6)


def test_the_newer_spelling_and_grads_by_keyword() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(1.0))
    grads = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    optimizer.update(model, grads)
    optimizer.update(model, grads=State(grads))  # a State of raw arrays works too
    optimizer.update(grads=_as_state(grads))
    assert optimizer.step.value == 3
    assert jnp.array_equal(model.b.value, jnp.full(2, -3.0))


def test_the_learning_rate_can_follow_the_step_counter() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.inject_hyperparams(optax.sgd)(learning_rate=0.0))
    schedule = optax.exponential_decay(1.0, transition_steps=1, decay_rate=0.5)
    ones = {"w": jnp.zeros((3, 2)), "b": jnp.ones(2)}
    for _ in range(3):
        optimizer.opt_state.hyperparams["learning_rate"].value = schedule(optimizer.step.value)
        optimizer.update(ones)
    assert jnp.allclose(model.b.value, -(1.0 + 0.5 + 0.25))


def test_inject_hyperparams_can_be_read_and_changed() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.inject_hyperparams(optax.sgd)(learning_rate=0.1))
    hyperparams = optimizer.opt_state.hyperparams
    assert isinstance(hyperparams["learning_rate"], OptState)
    assert float(hyperparams["learning_rate"].value) == pytest.approx(0.1)
    hyperparams["learning_rate"].value = jnp.array(0.5)
    b0 = model.b.value
    optimizer.update({"w": jnp.zeros((3, 2)), "b": jnp.ones(2)})
    assert jnp.allclose(model.b.value, b0 - 0.5)


def test_opt_state_has_the_optax_structure_with_variables_as_leaves() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.adam(1e-3))
    adam_state = optimizer.opt_state[0]
    assert isinstance(adam_state, optax.ScaleByAdamState)
    assert isinstance(adam_state.mu["w"], OptState)
    assert adam_state.mu["w"].value.shape == (3, 2)
    assert adam_state.mu.w is adam_state.mu["w"]
    paths = set(state(optimizer, OptState).flat_dict())
    assert paths == {
        ("step",),
        ("opt_state", 0, "count"),
        ("opt_state", 0, "mu", "w"),
        ("opt_state", 0, "mu", "b"),
        ("opt_state", 0, "nu", "w"),
        ("opt_state", 0, "nu", "b"),
    }  # flax's paths: opt_state[0].mu.w


def test_optimizer_state_paths_match_flax_0_12() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-3))
    pure = state(optimizer, OptState).to_pure_dict()
    assert set(pure) == {"opt_state", "step"}
    assert set(pure["opt_state"][0]) == {"count", "mu", "nu"}
    before = optimizer.opt_state[0].mu["w"]
    optimizer.update(model, _as_state(_grads(model)))
    assert optimizer.opt_state[0].mu["w"] is before  # written in place, not replaced
    assert not np.allclose(before.value, 0.0)


def test_a_mask_built_from_a_state_of_variables_is_accepted_as_in_flax_0_10() -> None:
    model = Model(Rngs(0))
    mask = jax.tree.map(lambda x: x.ndim > 1, state(model, Param))  # a State of Params
    optimizer = Optimizer(model, optax.masked(optax.sgd(0.5), mask))
    w0 = model.w.value
    updates = optimizer.update(model, _as_state(_grads(model)))
    assert not np.allclose(model.w.value, w0)
    assert isinstance(updates, State) and set(updates.flat_dict()) == {("w",), ("b",)}
    dict_mask = {"w": True, "b": False}  # the dict spelling keeps working
    other = Model(Rngs(0))
    Optimizer(other, optax.masked(optax.sgd(0.5), dict_mask)).update(
        other, _as_state(_grads(other))
    )
    np.testing.assert_allclose(other.w.value, model.w.value)
    np.testing.assert_allclose(other.b.value, model.b.value)


def test_value_reaches_reduce_on_plateau() -> None:
    model = Model(Rngs(0))
    tx = optax.chain(optax.sgd(0.1), optax.contrib.reduce_on_plateau(patience=1, cooldown=0))
    optimizer = Optimizer(model, tx)
    for _ in range(4):  # a loss that never improves
        optimizer.update(_grads(model), value=jnp.array(1.0))
    assert float(optimizer.opt_state[1].scale.value) < 1.0


def test_a_line_search_gets_value_grad_and_value_fn() -> None:
    model = Model(Rngs(0))
    graphdef, _, rest = split(model, Param, ...)

    def loss_of(params: Any) -> jax.Array:
        return _loss(_params(merge(graphdef, params, rest)))

    optimizer = Optimizer(model, optax.lbfgs())
    tx, params = optax.lbfgs(), _params(model)
    opt_state = tx.init(params)
    for _ in range(2):  # eager line searches are slow (a while loop per step)
        value, grads = jax.value_and_grad(_loss)(params)
        updates, opt_state = tx.update(
            grads, opt_state, params, value=value, grad=grads, value_fn=_loss
        )
        params = optax.apply_updates(params, updates)
        value, grads = jax.value_and_grad(_loss)(_params(model))
        optimizer.update(model, grads, value=value, grad=_as_state(grads), value_fn=loss_of)
    np.testing.assert_allclose(model.w.value, params["w"], rtol=1e-5, atol=1e-6)
    assert float(loss_of(_params(model))) < float(_loss(_params(Model(Rngs(0)))))


def test_inside_jax_jit_through_split_merge_update() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-2))
    graphdef, st = split((model, optimizer))

    @jax.jit
    def train_step(st: State) -> tuple[jax.Array, State]:
        m, opt = merge(graphdef, st)
        loss, grads = jax.value_and_grad(_loss)(_params(m))
        opt.update(m, grads)
        return loss, split((m, opt))[1]

    for _ in range(2):
        _, st = train_step(st)
    update((model, optimizer), st)
    assert optimizer.step.value == 2
    assert optimizer.step.value.dtype == jnp.uint32
    expected = _reference_loop(optax.adam(1e-2), _params(Model(Rngs(0))), 2)
    np.testing.assert_allclose(model.w.value, expected["w"], rtol=1e-6, atol=1e-7)


def test_holds_the_model_by_reference_and_sharing_survives_split_merge() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(1e-3))
    assert optimizer.model is model
    model_copy, optimizer_copy = merge(*split((model, optimizer)), copy=True)
    assert optimizer_copy.model is model_copy
    optimizer_copy.update(model_copy, _grads(model_copy))
    assert not jnp.array_equal(model_copy.w.value, model.w.value)  # the copy is separate
    assert optimizer.step.value == 0


def test_an_object_holding_model_and_optimizer() -> None:
    class TrainState(Object):
        def __init__(self) -> None:
            self.model = Model(Rngs(0))
            self.optimizer = Optimizer(self.model, optax.sgd(0.1))

    copy = merge(*split(TrainState()))
    assert copy.optimizer.model is copy.model


class Average(Object):
    def __init__(self) -> None:
        self.total = Variable(jnp.array(0.0))
        self.count = Variable(jnp.array(0))

    def update(self, *, loss: jax.Array) -> None:
        self.total.value = self.total.value + loss
        self.count.value = self.count.value + 1

    def compute(self) -> jax.Array:
        return self.total.value / self.count.value


class TrainState(Optimizer):
    """The reference users' pattern: an Optimizer subclass that also tracks metrics."""

    def __init__(self, model: Model, tx: optax.GradientTransformation, metrics: Average) -> None:
        self.metrics = metrics  # set before the base __init__, as reference users do
        super().__init__(model, tx)

    def update(self, *, grads: Any, **updates: Any) -> None:  # type: ignore[override]
        self.metrics.update(**updates)
        super().update(grads)


def test_subclassing_to_add_metrics() -> None:
    model = Model(Rngs(0))
    ts = TrainState(model, optax.sgd(0.1), Average())
    for loss in (1.0, 3.0):
        ts.update(grads=_grads(model), loss=jnp.array(loss))
    assert float(ts.metrics.compute()) == 2.0
    assert ts.step.value == 2

    graphdef, st = split(ts)

    @jax.jit
    def jitted(st: State) -> State:
        copy = merge(graphdef, st)
        copy.update(grads=_grads(copy.model), loss=jnp.array(5.0))
        return split(copy)[1]

    update(ts, jitted(st))
    assert float(ts.metrics.compute()) == 3.0
    assert ts.step.value == 3


class Heads(Module):
    """A dict attribute whose keys mix ints and strs, which jax cannot sort."""

    def __init__(self) -> None:
        self.heads = {0: Param(jnp.ones(2)), "out": Param(jnp.ones(3))}


def test_parameters_under_keys_jax_cannot_sort() -> None:
    model = Heads()
    optimizer = Optimizer(model, optax.adam(0.1))
    grads = state(model, Param)
    optimizer.update(model, grads)
    assert optimizer.step.value == 1
    assert jnp.allclose(model.heads[0].value, 0.9)
    assert jnp.allclose(model.heads["out"].value, 0.9)


def test_a_list_filter_is_kept_hashable() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(1.0), wrt=[Param, BatchStat])
    optimizer.update({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2), "stat": jnp.ones(2)})
    assert jnp.array_equal(model.stat.value, -jnp.ones(2))
    assert merge(*split(optimizer)).wrt == (Param, BatchStat)


# -- errors: each names the path and the fix, and leaves the objects unchanged -------------


def _unchanged_after(optimizer: Optimizer, call: Callable[[], object]) -> None:
    before = jax.tree_util.tree_map(np.asarray, state(optimizer).to_pure_dict())
    call()
    after = jax.tree_util.tree_map(np.asarray, state(optimizer).to_pure_dict())
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, before, after))


def test_grads_with_wrong_paths_are_all_listed() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.adam(0.1))

    def call() -> None:
        with pytest.raises(
            ValueError,
            match=r"(?s)grads\.b: missing.*grads\.z: Array\(shape=\(2,\).*not a parameter"
            r".*Fix: grads = nnx\.grad\(loss_fn\)\(model\)",
        ):
            optimizer.update({"w": jnp.ones((3, 2)), "z": jnp.ones(2)})

    _unchanged_after(optimizer, call)


def test_grads_with_wrong_shapes_are_listed() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.adam(0.1))

    def call() -> None:
        with pytest.raises(
            ValueError,
            match=r"(?s)grads\.w: Array\(shape=\(2, 3\).*does not fit the parameter model\.w"
            r".*shape=\(3, 2\).*Fix: grads = nnx\.grad",
        ):
            optimizer.update({"w": jnp.ones((2, 3)), "b": jnp.ones(2)})

    _unchanged_after(optimizer, call)


def test_grads_that_are_not_a_mapping() -> None:
    optimizer = Optimizer(Model(Rngs(0)), optax.sgd(0.1))
    with pytest.raises(TypeError, match=r"(?s)grads must be a State.*got list.*Fix: grads ="):
        optimizer.update([jnp.ones((3, 2)), jnp.ones(2)])


def test_bad_update_arguments() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1))
    with pytest.raises(TypeError, match=r"(?s)no gradients were passed.*Fix: grads ="):
        optimizer.update()
    with pytest.raises(TypeError, match=r"(?s)got 3 positional.*Fix: optimizer\.update\(model"):
        optimizer.update(model, _grads(model), jnp.array(1.0))


def test_a_model_that_is_not_the_optimizers() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.sgd(0.1))

    def call() -> None:
        with pytest.raises(
            ValueError,
            match=r"(?s)model passed \(Model\) is not the model this optimizer.*"
            r"Fix: optimizer\.update\(optimizer\.model, grads\)",
        ):
            optimizer.update(Model(Rngs(1)), _grads(model))

    _unchanged_after(optimizer, call)


def test_a_wrt_filter_that_selects_nothing_lists_the_variables() -> None:
    class Count(Variable[Any]):
        pass

    with pytest.raises(
        ValueError,
        match=r"(?s)wrt=Count selects no Variable.*model\.stat: BatchStat.*model\.w: Param"
        r".*Fix: nnx\.Optimizer\(model, tx, wrt=nnx\.Param\)",
    ):
        Optimizer(Model(Rngs(0)), optax.sgd(0.1), wrt=Count)


def test_a_tx_that_is_not_an_optax_transformation() -> None:
    with pytest.raises(TypeError, match=r"(?s)got 'adam'.*Fix: nnx\.Optimizer\(model, optax\.adam"):
        Optimizer(Model(Rngs(0)), "adam")  # type: ignore[arg-type]


def _bigger_w(model: Model) -> None:
    model.w = Param(jnp.ones((3, 5)))


def _added(model: Model) -> None:
    model.extra = Param(jnp.ones(4))


def _removed(model: Model) -> None:
    del model.b


def _narrower_b(model: Model) -> None:
    # (1,) broadcasts against Adam's (2,) state: optax alone would not even fail, and would
    # write a parameter of shape (2,).
    model.b = Param(jnp.zeros((1,)))


@pytest.mark.parametrize(
    ("surgery", "problem"),
    [
        (
            _bigger_w,
            r"model\.w: Array\(shape=\(3, 5\), dtype=float32\) now; the optimizer "
            r"state was built for shape \(3, 2\)",
        ),
        (
            _added,
            r"model\.extra: Array\(shape=\(4,\), dtype=float32\) was added after the "
            r"Optimizer was built; it has no optimizer state",
        ),
        (_removed, r"model\.b: gone from the model; the optimizer state still holds shape \(2,\)"),
        (
            _narrower_b,
            r"model\.b: Array\(shape=\(1,\), dtype=float32\) now; the optimizer state "
            r"was built for shape \(2,\)",
        ),
    ],
)
def test_model_surgery_after_building_names_the_changed_paths_and_the_fix(
    surgery: Callable[[Model], None], problem: str
) -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(0.1))
    surgery(model)
    grads = jax.tree_util.tree_map(jnp.ones_like, state(model, Param))
    params_before = jax.tree_util.tree_map(np.asarray, state(model, Param).to_pure_dict())

    def call() -> None:
        with pytest.raises(
            ValueError,
            match=r"(?s)^Optimizer\.update: the model's parameters changed after the Optimizer "
            r"was built.*" + problem + r".*Fix: optimizer = nnx\.Optimizer\(model, optimizer\.tx, "
            r"wrt=nnx\.Param\)  # rebuild it after changing the model",
        ):
            optimizer.update(grads)

    _unchanged_after(optimizer, call)
    params_after = jax.tree_util.tree_map(np.asarray, state(model, Param).to_pure_dict())
    assert jax.tree_util.tree_all(
        jax.tree_util.tree_map(np.array_equal, params_before, params_after)
    )
    optimizer = Optimizer(model, optax.adam(0.1))  # the fix
    optimizer.update(grads)
    assert int(optimizer.step.value) == 1


def test_surgery_that_keeps_every_shape_needs_no_rebuild() -> None:
    model = Model(Rngs(0))
    optimizer = Optimizer(model, optax.adam(0.1))
    model.w = Param(jnp.zeros((3, 2)))  # same path and shape: the state still fits
    optimizer.update(jax.tree_util.tree_map(jnp.ones_like, state(model, Param)))
    assert int(optimizer.step.value) == 1


# -- 0.12 spellings: update(model, grads) returns the updates; ModelAndOptimizer ---------


def test_update_returns_the_applied_updates_in_both_spellings():
    from nnx_optim import ModelAndOptimizer

    for build, call in [
        (lambda m: Optimizer(m, optax.sgd(0.1), wrt=Param), lambda o, m, g: o.update(m, g)),
        (lambda m: Optimizer(m, optax.sgd(0.1)), lambda o, m, g: o.update(g)),
        (lambda m: ModelAndOptimizer(m, optax.sgd(0.1), wrt=Param), lambda o, m, g: o.update(g)),
    ]:
        model = Model(Rngs(0))
        optimizer = build(model)
        before = {"w": model.w[...], "b": model.b[...]}
        grads = _grads(model)
        updates = call(optimizer, model, grads)
        assert isinstance(updates, State) and set(updates) == {"w", "b"}
        for name in ("w", "b"):
            np.testing.assert_allclose(updates[name], -0.1 * grads[name], rtol=1e-6)
            after = getattr(model, name)[...]
            np.testing.assert_allclose(after - before[name], updates[name], atol=1e-6)


def test_model_and_optimizer_is_the_0_10_optimizer_shape():
    from nnx_optim import ModelAndOptimizer

    model = Model(Rngs(0))
    optimizer = ModelAndOptimizer(model, optax.adam(1e-2), wrt=Param)
    assert isinstance(optimizer, Optimizer) and optimizer.model is model
    optimizer.update(_grads(model))
    optimizer.update(model, _grads(model))
    assert int(optimizer.step[...]) == 2
    assert "model" in state(optimizer) and "opt_state" in state(optimizer)


def test_errors_about_an_optimizer_root_call_it_optimizer() -> None:
    class Model(Module):
        def __init__(self) -> None:
            self.a = Param(jnp.ones(2))

    optimizer = Optimizer(Model(), optax.sgd(0.1))
    with pytest.raises(
        ValueError,
        match=r"(?s)  - optimizer\.model\.a: .*Fix: .*nnx\.split\(optimizer, OptState, \.\.\.\)",
    ):
        split(optimizer, OptState)


def _kinds(optimizer: Optimizer) -> dict[tuple[Any, ...], str]:
    return {
        path: leaf.type.__name__ for path, leaf in state(optimizer, OptState).flat_dict().items()
    }


def test_opt_state_leaves_are_opt_arrays_and_opt_variables_as_in_flax() -> None:
    assert issubclass(OptArray, OptState)
    assert issubclass(OptVariable, OptState)
    optimizer = Optimizer(Model(Rngs(0)), optax.adam(1e-3), wrt=Param)
    # flax 0.12.8 (and 0.10.7, whose VariableStates name these types): count is an
    # OptArray, the per-parameter moments OptVariables, the step counter an OptState.
    assert _kinds(optimizer) == {
        ("step",): "OptState",
        ("opt_state", 0, "count"): "OptArray",
        ("opt_state", 0, "mu", "w"): "OptVariable",
        ("opt_state", 0, "mu", "b"): "OptVariable",
        ("opt_state", 0, "nu", "w"): "OptVariable",
        ("opt_state", 0, "nu", "b"): "OptVariable",
    }
    assert set(state(optimizer, OptArray).flat_dict()) == {("opt_state", 0, "count")}
    assert len(state(optimizer, OptVariable).flat_dict()) == 4
    model = optimizer.model
    optimizer.update(model, _as_state(_grads(model)))
    assert type(optimizer.opt_state[0].mu["w"]) is OptVariable  # kinds survive an update


def test_hyperparameters_are_opt_arrays_and_factored_stats_opt_variables() -> None:
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    kinds = _kinds(Optimizer(Model(Rngs(0)), tx))
    # flax 0.12.8: hyperparams and count are OptArray, the momentum trace OptVariable
    assert kinds[("opt_state", "hyperparams", "learning_rate")] == "OptArray"
    assert kinds[("opt_state", "count")] == "OptArray"
    assert kinds[("opt_state", "inner_state", 0, "trace", "w")] == "OptVariable"
    # flax 0.12.8: adafactor's v_row/v_col leaves (shapes unlike the parameter's) are
    # OptVariables too
    kinds = _kinds(Optimizer(Model(Rngs(0)), optax.adafactor(1e-3, min_dim_size_to_factor=2)))
    assert kinds[("opt_state", 0, "v_row", "w")] == "OptVariable"
    assert kinds[("opt_state", 0, "v_col", "b")] == "OptVariable"
    assert kinds[("opt_state", 0, "count")] == "OptArray"
