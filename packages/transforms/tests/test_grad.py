from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import PathContains, State
from nnx_transforms import DiffState, grad, jit, value_and_grad
from nnx_variables import BatchStat, Param, Rngs


def _loss(model: Any, x: jax.Array) -> jax.Array:
    model.deterministic = True
    return (model(x) ** 2).mean()


def test_gradients_equal_jax_grad_of_the_pure_function(kit: Any) -> None:
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    model.deterministic = True
    x = jnp.arange(6.0).reshape(2, 3)
    grads = grad(lambda m: (m(x) ** 2).mean())(model)

    def pure(w: jax.Array, b: jax.Array) -> jax.Array:
        return ((x @ w + b) ** 2).mean()

    dw, db = jax.grad(pure, argnums=(0, 1))(model.dense.w.value, model.dense.b.value)
    assert isinstance(grads, State)
    assert set(grads.flat_dict()) == {("dense", "w"), ("dense", "b")}
    assert grads["dense"]["w"].type is Param
    assert jnp.allclose(grads["dense"]["w"].value, dw)
    assert jnp.allclose(grads.dense.b.value, db)


def test_non_differentiated_state_updates_reach_the_caller(kit: Any) -> None:
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    loss, _ = value_and_grad(lambda m: (m(jnp.ones((2, 3))) ** 2).mean())(model)
    assert int(model.count.value) == 1
    assert not jnp.allclose(model.mean.value, 0.0)
    assert jnp.ndim(loss) == 0


def test_diffstate_selects_other_variables(kit: Any) -> None:
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    grads = grad(
        lambda m: (m.mean.value**2).sum() + m.dense.b.value.sum(),
        argnums=DiffState(0, BatchStat),
    )(model)
    assert set(grads.flat_dict()) == {("mean",)}
    bias_grads = grad(lambda m: m.dense.b.value.sum(), argnums=DiffState(0, PathContains("b")))(
        model
    )
    assert set(bias_grads.flat_dict()) == {("dense", "b")}


def test_several_argnums_and_arrays(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))
    x = jnp.ones((2, 3))
    g_model, g_x = grad(lambda m, x: m(x).sum(), argnums=(0, 1))(model, x)
    assert jnp.allclose(g_x, jnp.broadcast_to(model.w.value[:, 0], (2, 3)))
    assert jnp.allclose(g_model["w"].value, jnp.full((3, 1), 2.0))


def test_has_aux_returns_objects_and_values(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))

    def loss(m: Any) -> Any:
        y = m(jnp.ones((1, 3)))
        return y.sum(), {"y": y, "model": m}

    (value, aux), grads = value_and_grad(loss, has_aux=True)(model)
    assert aux["model"] is model
    assert jnp.allclose(aux["y"].sum(), value)
    assert "w" in grads


def test_has_aux_without_a_pair_is_a_clear_error(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))
    with pytest.raises(TypeError, match=r"(?s)pair \(loss, aux\).*Fix: return loss, aux"):
        grad(lambda m: m(jnp.ones((1, 3))).sum(), has_aux=True)(model)


def test_argnums_out_of_range_is_a_clear_error(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))
    with pytest.raises(ValueError, match=r"(?s)argnums includes 2.*range\(1\)"):
        grad(lambda m: m.w.value.sum(), argnums=2)(model)


def test_grad_inside_jit_matches_eager(kit: Any) -> None:
    eager_model = kit.Stateful(3, 4, rngs=Rngs(0))
    jit_model = kit.Stateful(3, 4, rngs=Rngs(0))
    x = jnp.ones((2, 3))
    eager = grad(lambda m: (m(x) ** 2).mean())(eager_model)
    jitted = jit(lambda m: grad(lambda m: (m(x) ** 2).mean())(m))(jit_model)
    for path, leaf in eager.flat_dict().items():
        assert jnp.allclose(leaf.value, jitted.flat_dict()[path].value, atol=1e-6)
    assert int(jit_model.count.value) == int(eager_model.count.value) == 1


def test_a_failing_loss_leaves_the_model_unchanged(kit: Any) -> None:
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    before = kit.values(model)

    def bad(m: Any) -> jax.Array:
        m(jnp.ones((2, 3)))
        raise ValueError("bad loss")

    with pytest.raises(ValueError, match="bad loss"):
        grad(bad)(model)
    assert kit.same_values(kit.values(model), before)


@pytest.mark.parametrize("transform", [grad, value_and_grad])
def test_a_non_scalar_loss_gives_the_reduction_fix(kit: Any, transform: Any) -> None:
    model = kit.Stateful(3, 4, rngs=Rngs(0))
    before = kit.values(model)
    with pytest.raises(
        TypeError,
        match=rf"(?s)^nnx\.{transform.__name__}: the loss is Array\(shape=\(2, 4\), "
        r"dtype=float32\); gradients need a scalar loss\..*Fix: return loss\.mean\(\)",
    ):
        transform(lambda m: m(jnp.ones((2, 3))))(model)
    assert kit.same_values(kit.values(model), before)


def test_a_loss_and_aux_without_has_aux_gives_the_has_aux_fix(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))
    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.grad: the function returned a tuple of 2, not a scalar loss.*"
        r"Fix: nnx\.grad\(loss_fn, has_aux=True\)",
    ):
        grad(lambda m: (m(jnp.ones((1, 3))).sum(), {"n": 1}))(model)


def test_a_non_scalar_loss_is_caught_under_jit_too(kit: Any) -> None:
    model = kit.Dense(3, 2, rngs=Rngs(0))
    step = jit(lambda m, x: grad(lambda m: m(x))(m))
    with pytest.raises(TypeError, match=r"(?s)nnx\.grad: the loss is Array\(shape=\(1, 2\).*Fix"):
        step(model, jnp.ones((1, 3)))


def test_a_loss_that_is_not_an_array_names_it_and_the_fix(kit: Any) -> None:
    model = kit.Dense(3, 1, rngs=Rngs(0))
    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.grad: the function returned list, not a scalar loss.*"
        r"Fix: return jnp\.mean\(\(model\(x\) - y\) \*\* 2\)",
    ):
        grad(lambda m: [m(jnp.ones((1, 3))).sum()])(model)
