from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import EscapedTraceError, Module, TraceContextError, Variable, split
from nnx_transforms import jit, value_and_grad
from nnx_variables import Param, Rngs


def test_mutations_inside_are_visible_outside(model: Any, kit: Any) -> None:
    step = jit(lambda m, x: m(x))
    x = jnp.ones((2, 3))
    eager = kit.Stateful(3, 4, rngs=Rngs(0))
    for _ in range(3):
        assert jnp.allclose(step(model, x), eager(x))
    assert int(model.count.value) == 3
    assert jnp.allclose(model.mean.value, eager.mean.value)
    # one key drawn at construction (params falls back to default), one per call
    assert int(model.rngs.noise.count.value) == int(eager.rngs.noise.count.value) == 4


def test_sharing_between_arguments_survives(model: Any, kit: Any) -> None:
    trainer = kit.Trainer(model)

    @jit
    def train_step(model: Any, trainer: Any, x: jax.Array) -> jax.Array:
        assert trainer.model is model  # the copies inside share like the originals
        loss, grads = value_and_grad(lambda m: (m(x) ** 2).mean())(model)
        trainer.apply(grads)
        return loss

    w0 = model.dense.w.value
    train_step(model, trainer, jnp.ones((2, 3)))
    assert trainer.model is model
    assert int(trainer.steps.value) == 1
    assert not jnp.allclose(model.dense.w.value, w0)


def test_returning_an_input_gives_back_the_same_object(model: Any, kit: Any) -> None:
    out = jit(lambda m: m)(model)
    assert out is model


def test_returning_a_new_object_builds_it_outside(kit: Any) -> None:
    make = jit(lambda key: kit.Dense(2, 3, rngs=Rngs(params=key)))
    dense = make(jax.random.key(1))
    assert isinstance(dense, kit.Dense)
    assert dense.w.value.shape == (2, 3)
    assert jnp.allclose(dense.w.value, kit.Dense(2, 3, rngs=Rngs(params=1)).w.value)


def test_new_attribute_set_inside_appears_outside(model: Any, kit: Any) -> None:
    @jit
    def tag(m: Any) -> None:
        m.extra = Param(jnp.ones(2))
        m.label = "tagged"

    tag(model)
    assert isinstance(model.extra, Param)
    assert model.label == "tagged"
    tag(model)  # the next call sees the new structure and keeps working
    assert model.label == "tagged"


def test_static_argnums_and_argnames(kit: Any) -> None:
    @jit(static_argnums=1, static_argnames="power")
    def f(x: jax.Array, scale: float, *, power: int) -> jax.Array:
        assert isinstance(scale, float) and isinstance(power, int)
        return scale * x**power

    assert float(f(jnp.array(2.0), 3.0, power=2)) == 12.0


def test_unhashable_static_argument_is_a_clear_error(kit: Any) -> None:
    f = jit(lambda x, opts: x, static_argnums=1)
    with pytest.raises(
        TypeError, match=r"(?s)static argument opts is not hashable.*Fix: pass a tuple"
    ):
        f(jnp.ones(1), [1, 2])


def test_a_variable_holding_a_string_names_its_path_and_the_fix(model: Any, kit: Any) -> None:
    model.dense.name = Variable("encoder")
    w, count = model.dense.w.value, int(model.count.value)
    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.jit: m\.dense\.name: 'encoder' \(the value of a Variable\), "
        r"which jit cannot trace\.\nExpected: Variable values under jit to be arrays or "
        r"scalars.*Fix: self\.name = 'encoder'  # a plain attribute is static",
    ):
        jit(lambda m, x: m(x))(model, jnp.ones((2, 3)))
    assert model.dense.w.value is w and int(model.count.value) == count


def test_a_string_argument_names_it_and_the_static_argnums_fix() -> None:
    def scaled(x: jax.Array, factor: float, mode: str, extra: str = "") -> jax.Array:
        return x * factor

    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.jit: mode: 'fast' \(an argument\), which jit cannot trace.*"
        r"Fix: nnx\.jit\(scaled, static_argnums=2\)$",
    ):
        jit(scaled)(jnp.ones(2), 2.0, "fast")
    # named as in the signature, though static arguments were taken out first
    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.jit: 2 values passed to scaled are neither arrays nor scalars.*"
        r"  - mode: 'fast' \(an argument\)\n  - extra: 'x' \(an argument\).*"
        r"Fix: nnx\.jit\(scaled, static_argnums=\(1, 2\), static_argnames='extra'\)$",
    ):
        jit(scaled, static_argnums=1)(jnp.ones(2), 2.0, "fast", extra="x")


def test_type_errors_raised_by_the_function_pass_through_untouched() -> None:
    def bad(x: jax.Array) -> jax.Array:
        raise TypeError("the function's own mistake")

    with pytest.raises(TypeError, match=r"^the function's own mistake"):
        jit(bad)(jnp.ones(2))


def test_donation_keeps_the_model_usable(model: Any, kit: Any) -> None:
    step = jit(lambda m, x: m(x), donate_argnums=0)
    x = jnp.ones((2, 3))
    step(model, x)
    step(model, x)
    assert int(model.count.value) == 2
    assert model.dense.w.value.shape == (3, 4)


def test_mutating_a_captured_object_is_an_error(model: Any, kit: Any) -> None:
    @jit
    def uses_closure(x: jax.Array) -> jax.Array:
        return model(x)

    before = kit.values(model)
    with pytest.raises(
        TraceContextError,
        match=r"(?s)uses_closure writes to model\.mean, which it captured.*"
        r"Fix: add `model` to uses_closure's parameters",
    ):
        uses_closure(jnp.ones((2, 3)))
    assert kit.same_values(kit.values(model), before)


def test_a_variable_that_escapes_its_trace_fails_loudly(model: Any, kit: Any) -> None:
    leaked: list[Variable[Any]] = []

    @jit
    def leak(m: Any) -> None:
        leaked.append(m.dense.w)

    leak(model)
    with pytest.raises(EscapedTraceError, match="Fix: return the object"):
        _ = leaked[0].value


def test_a_call_that_raises_leaves_the_model_unchanged(model: Any, kit: Any) -> None:
    @jit
    def fails(m: Any, x: jax.Array) -> jax.Array:
        m(x)
        m.count += 10
        raise RuntimeError("boom")

    before = kit.values(model)
    with pytest.raises(RuntimeError, match="boom"):
        fails(model, jnp.ones((2, 3)))
    assert kit.same_values(kit.values(model), before)
    assert int(model.count.value) == 0


def test_jit_as_a_method_decorator(kit: Any) -> None:
    class Model(Module):
        def __init__(self) -> None:
            self.count = kit.Count(jnp.array(0))

        @jit
        def step(self, x: jax.Array) -> jax.Array:
            self.count += 1
            return x * 2

    model = Model()
    assert float(model.step(jnp.array(1.0))) == 2.0
    assert int(model.count.value) == 1


def test_graphdef_and_state_pass_through_like_pytrees(model: Any, kit: Any) -> None:
    graphdef, st = split(model)
    out_graphdef, out_state = jit(lambda g, s: (g, s))(graphdef, st)
    assert out_graphdef == graphdef
    assert jax.tree.structure(out_state) == jax.tree.structure(st)


def test_lower_compiles(model: Any, kit: Any) -> None:
    lowered = jit(lambda m, x: m(x)).lower(model, jnp.ones((2, 3)))
    assert "dot" in lowered.as_text()


def test_variables_as_direct_arguments(kit: Any) -> None:
    v = kit.Count(jnp.array(1))

    @jit
    def bump(v: Any) -> None:
        v.value = v.value + 1

    bump(v)
    bump(v)
    assert int(v.value) == 3


def test_variables_work_in_jax_functions_and_plain_jax_jit(kit: Any) -> None:
    w = Param(jnp.array([1.0, -2.0]))
    assert jnp.allclose(jnp.tanh(w), jnp.tanh(w.value))
    doubled = jax.jit(lambda v: v * 2)(w)
    assert jnp.allclose(doubled, jnp.array([2.0, -4.0]))
    mapped = jax.tree.map(lambda x: x + 1, w)
    assert type(mapped) is Param and mapped is not w


def test_in_place_operator_on_a_variable_argument_flows_back() -> None:
    count = Variable(jnp.array(0))

    @jit
    def step(count: Variable) -> None:
        count += 1  # mutates the Variable in place, as in flax

    step(count)
    step(count)
    assert int(count.value) == 2
