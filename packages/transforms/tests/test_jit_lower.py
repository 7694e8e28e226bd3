"""``f.lower(...).compile()`` of an ``nnx.jit`` function takes objects (issue 11, case 22)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import jit
from nnx_variables import BatchStat, Param


class Model(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(3))
        self.calls = BatchStat(jnp.array(0.0))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.calls.value = self.calls.value + 1
        return x * self.w


@jit
def forward(m: Model, x: jax.Array) -> jax.Array:
    return m(x)


def test_compiled_takes_objects_and_writes_state_back() -> None:
    m = Model()
    compiled = forward.lower(m, jnp.ones(3)).compile()
    assert compiled(m, jnp.full(3, 2.0)).tolist() == [2.0, 2.0, 2.0]
    assert float(m.calls.value) == 1.0
    compiled(m, jnp.ones(3))
    assert float(m.calls.value) == 2.0
    other = Model()  # same structure: the same executable serves it
    compiled(other, jnp.ones(3))
    assert float(other.calls.value) == 1.0


def test_lowered_and_compiled_pass_jax_methods_through() -> None:
    m = Model()
    lowered = forward.lower(m, jnp.ones(3))
    assert "mul" in lowered.as_text()
    compiled = lowered.compile()
    assert compiled.as_text()
    assert compiled.cost_analysis() is not None
    assert float(m.calls.value) == 0.0  # lowering and compiling run nothing


def test_static_arguments_are_given_again_and_must_match() -> None:
    @jit(static_argnums=1)
    def scale(m: Model, k: int) -> jax.Array:
        return m(jnp.ones(3)) * k

    m = Model()
    compiled = scale.lower(m, 3).compile()
    assert compiled(m, 3).tolist() == [3.0, 3.0, 3.0]
    with pytest.raises(TypeError, match=r"(?s)structure differs.*Fix: lower again"):
        compiled(m, 4)


def test_a_different_structure_is_refused_and_nothing_is_written() -> None:
    m = Model()
    compiled = forward.lower(m, jnp.ones(3)).compile()
    m.extra = Param(jnp.zeros(1))
    with pytest.raises(TypeError, match=r"(?s)forward\.lower.*structure differs.*Fix"):
        compiled(m, jnp.ones(3))
    assert float(m.calls.value) == 0.0


def test_donating_function_lowers_and_runs(kit: Any) -> None:
    @jit(donate_argnums=0)
    def step(m: Model) -> None:
        m.w.value = m.w.value + 1

    m = Model()
    step.lower(m).compile()(m)
    assert m.w.value.tolist() == [2.0, 2.0, 2.0]


def test_eval_shape_gives_shapes_and_leaves_the_objects_alone() -> None:
    model = Model()

    @jit
    def step(model: Model, x: jax.Array) -> tuple[Model, jax.Array]:
        model.calls[...] += 1
        return Model(), model.w * x

    built, y = step.eval_shape(model, jnp.ones(3))
    assert y == jax.ShapeDtypeStruct((3,), jnp.float32)
    assert built.w.value == jax.ShapeDtypeStruct((3,), jnp.float32)
    assert float(model.calls.value) == 0.0  # nothing ran, nothing written


def test_trace_then_lower_then_compile_takes_the_objects() -> None:
    model = Model()

    @jit
    def step(model: Model, x: jax.Array) -> jax.Array:
        model.calls[...] += 1
        return model.w * x

    traced = step.trace(model, jnp.ones(3))
    assert "mul" in str(traced.jaxpr)
    assert float(model.calls.value) == 0.0
    compiled = traced.lower().compile()
    assert compiled(model, jnp.full(3, 2.0)).tolist() == [2.0, 2.0, 2.0]
    assert float(model.calls.value) == 1.0
