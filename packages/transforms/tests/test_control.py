from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, Variable
from nnx_transforms import cond, eval_shape, fori_loop, grad, jit, remat, switch, while_loop
from nnx_variables import Param, Rngs


class Box(Module):
    def __init__(self) -> None:
        self.x = Variable(jnp.array(1.0))


@pytest.mark.parametrize("pred, expected", [(True, 2.0), (False, 0.5)])
def test_cond_updates_the_object_in_the_taken_branch(pred: bool, expected: float) -> None:
    box = Box()

    def double(b: Box) -> jax.Array:
        b.x.value = b.x.value * 2
        return b.x.value

    def halve(b: Box) -> jax.Array:
        b.x.value = b.x.value / 2
        return b.x.value

    out = jit(lambda b, p: cond(p, double, halve, b))(box, pred)
    assert float(box.x.value) == float(out) == expected


def test_switch_picks_a_branch() -> None:
    box = Box()
    branches = [lambda b, k=k: setattr(b.x, "value", b.x.value + k) for k in range(3)]
    switch(2, branches, box)
    assert float(box.x.value) == 3.0


def test_fori_loop_and_while_loop_carry_objects() -> None:
    def add(i: Any, b: Box) -> Box:
        b.x.value = b.x.value + i
        return b

    box = fori_loop(0, 4, add, Box())
    assert float(box.x.value) == 7.0
    looped = while_loop(lambda b: b.x.value < 10, lambda b: add(2, b), Box())
    assert float(looped.x.value) == 11.0


def test_loop_body_must_return_the_same_structure() -> None:
    with pytest.raises(ValueError, match=r"(?s)structure of init_val.*Fix: return val"):
        fori_loop(0, 2, lambda i, b: None, Box())


def test_remat_gives_the_same_gradients(kit: Any) -> None:
    model = kit.Dense(3, 2, rngs=Rngs(0))
    x = jnp.ones((4, 3))
    plain = grad(lambda m: jnp.sin(m(x)).sum())(model)
    remat_ = grad(lambda m: remat(lambda m: jnp.sin(m(x)).sum())(m))(model)
    assert jnp.allclose(plain["w"].value, remat_["w"].value)


def test_eval_shape_builds_abstract_objects_without_touching_inputs(kit: Any) -> None:
    abstract = eval_shape(lambda: kit.Dense(1000, 1000, rngs=Rngs(0)))
    assert isinstance(abstract.w.value, jax.ShapeDtypeStruct)
    assert abstract.w.value.shape == (1000, 1000)
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    eval_shape(lambda m: m(jnp.ones((2, 3))), model)
    assert int(model.count.value) == 0
    assert isinstance(model.dense.w.value, jax.Array)


def test_param_gradients_through_cond(kit: Any) -> None:
    model = kit.Dense(2, 1, rngs=Rngs(0))
    g = grad(lambda m: cond(True, lambda m: m.w.value.sum(), lambda m: 0.0 * m.w.value.sum(), m))(
        model
    )
    assert jnp.allclose(g["w"].value, 1.0)
    assert isinstance(model.w, Param)
