"""Bare Variables and containers of Variables as differentiated arguments (issue 11, case 8).

Flax NNX differentiates a Variable that sits directly in an argument (not inside an
Object) whatever its kind, and returns a Variable of the same kind holding the gradient;
a container of Variables gets the same container of gradient Variables.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, State, Variable, VariableState
from nnx_transforms import DiffState, grad, jit, remat, value_and_grad
from nnx_variables import BatchStat, Param


def _w() -> Param[jax.Array]:
    return Param(jnp.array(3.0))


def _b() -> Param[jax.Array]:
    return Param(jnp.array(1.0))


def test_gradient_of_a_bare_variable_is_a_variable_of_its_kind() -> None:
    w = _w()
    g = grad(lambda w: w.value**2)(w)
    assert type(g) is Param
    assert isinstance(g, VariableState)
    assert float(g.value) == 6.0
    assert g is not w
    assert float(w.value) == 3.0


@pytest.mark.parametrize("container", [dict, tuple, list])
def test_gradient_of_a_container_of_variables_is_the_same_container(container: Any) -> None:
    w, b = _w(), _b()
    if container is dict:
        arg: Any = {"w": w, "b": b}
        keys: Any = ("w", "b")
    else:
        arg = container([w, b])
        keys = (0, 1)
    g = grad(lambda d: d[keys[0]].value ** 2 + d[keys[1]].value)(arg)
    assert type(g) is container
    assert type(g[keys[0]]) is Param and type(g[keys[1]]) is Param
    assert float(g[keys[0]].value) == 6.0
    assert float(g[keys[1]].value) == 1.0


def test_container_mixing_variables_and_arrays() -> None:
    g = grad(lambda d: d["w"].value ** 2 + d["x"] * 2)({"w": _w(), "x": jnp.array(2.0)})
    assert type(g["w"]) is Param and float(g["w"].value) == 6.0
    assert float(g["x"]) == 2.0


def test_value_and_grad_of_two_bare_variables() -> None:
    w, b = _w(), _b()
    value, (gw, gb) = value_and_grad(lambda w, b: w.value**2 * b.value, argnums=(0, 1))(w, b)
    assert float(value) == 9.0
    assert (type(gw), float(gw.value)) == (Param, 6.0)
    assert (type(gb), float(gb.value)) == (Param, 9.0)


def test_a_bare_variable_is_differentiated_whatever_its_kind() -> None:
    # Filters select inside Objects; a Variable passed as it is was asked for (flax 0.12).
    stat = BatchStat(jnp.array(2.0))
    g = grad(lambda v: v.value**2)(stat)
    assert type(g) is BatchStat and float(g.value) == 4.0
    g = grad(lambda v: v.value**2, argnums=DiffState(0, Param))(stat)
    assert type(g) is BatchStat and float(g.value) == 4.0


def test_objects_beside_bare_variables_keep_their_filter() -> None:
    class M(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.array(3.0))
            self.s = BatchStat(jnp.array(2.0))

    g = grad(lambda d: d["m"].w.value * d["m"].s.value * d["s"].value)(
        {"m": M(), "s": BatchStat(jnp.array(2.0))}
    )
    assert isinstance(g["m"], State)
    assert set(g["m"].flat_dict()) == {("w",)}
    assert type(g["s"]) is BatchStat and float(g["s"].value) == 6.0


def test_mutations_of_bare_variables_reach_the_caller() -> None:
    count = BatchStat(jnp.array(0.0))

    def loss(w: Param[jax.Array], count: BatchStat[jax.Array]) -> jax.Array:
        count.value = count.value + 1
        return w.value**2

    g = grad(loss)(_w(), count)
    assert float(g.value) == 6.0
    assert float(count.value) == 1.0


def test_has_aux_and_metadata_survive() -> None:
    w = Param(jnp.array(3.0), description="weight")
    (loss, aux), g = value_and_grad(lambda w: (w.value**2, w.value + 1), has_aux=True)(w)
    assert (float(loss), float(aux), float(g.value)) == (9.0, 4.0, 6.0)
    assert g.description == "weight"


def test_grad_of_remat_of_a_bare_variable() -> None:
    w = _w()
    assert float(remat(lambda w: w.value**2)(w)) == 9.0
    g = grad(remat(lambda w: w.value**2))(w)
    assert type(g) is Param and float(g.value) == 6.0


def test_grad_of_a_bare_variable_under_jit() -> None:
    @jit
    def step(w: Param[jax.Array]) -> Param[jax.Array]:
        g = grad(lambda w: w.value**2)(w)
        w.value = w.value - 0.1 * g.value
        return g

    w = _w()
    g = step(w)
    assert type(g) is Param and float(g.value) == 6.0
    assert float(w.value) == pytest.approx(2.4)


class Scaled(Module):
    """Every kind of state a tree-mode gradient covers: Param, BatchStat, Variable, array."""

    def __init__(self) -> None:
        self.w = Param(jnp.array([1.0, 2.0]))
        self.seen = BatchStat(jnp.array(0.0))
        self.c = Variable(jnp.array(2.0))
        self.r = jnp.array(3.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        self.seen.value += 1
        return jnp.sum((self.w * x) ** 2) * self.c * self.r * (1 + 0 * self.seen.value)


TREE_GRADS = [{"graph": False}, {"graph_updates": False}, {"graph": True, "graph_updates": False}]


@pytest.mark.parametrize("mode", TREE_GRADS, ids=["graph=False", "updates=False", "graph,no-upd"])
def test_without_graph_updates_the_gradient_is_an_object_like_the_argument(
    mode: dict[str, bool],
) -> None:
    # Flax NNX 0.12.8: jax.grad over the module as a pytree, so every Variable and array
    # is differentiated and the gradient is a new module of the same class.
    m = Scaled()
    x = jnp.array([1.0, 1.0])
    value, g = value_and_grad(lambda m, x: m(x), **mode)(m, x)
    assert float(value) == 30.0  # (1 + 4) * 2 * 3
    assert type(g) is Scaled and g is not m
    assert type(g.w) is Param and g.w is not m.w
    assert g.w.value.tolist() == [12.0, 24.0]  # 2 w x^2 * c * r
    assert type(g.seen) is BatchStat and float(g.seen.value) == 0.0
    assert type(g.c) is Variable and float(g.c.value) == 15.0  # 5 * r
    assert float(g.r) == 10.0  # 5 * c
    assert float(m.seen.value) == 1.0  # the update still reaches the caller
    assert m.w.value.tolist() == [1.0, 2.0]


def test_without_graph_updates_grad_with_several_argnums_and_aux() -> None:
    m = Scaled()
    x = jnp.array([1.0, 1.0])
    (gm, gx), aux = grad(lambda m, x: (m(x), 7), argnums=(0, 1), has_aux=True, graph=False)(m, x)
    assert type(gm) is Scaled and aux == 7
    assert gx.tolist() == [12.0, 48.0]  # 2 w^2 x * c * r


def test_without_graph_updates_an_integer_variable_is_refused_by_path() -> None:
    m = Scaled()
    m.steps = Variable(jnp.array(0, dtype=jnp.uint32))
    with pytest.raises(TypeError, match=r"(?s)args\[0\]\.steps.*uint32.*allow_int=True"):
        grad(lambda m, x: m(x), graph=False)(m, jnp.ones(2))
    assert float(m.seen.value) == 0.0
    g = grad(lambda m, x: m(x), graph=False, allow_int=True)(m, jnp.ones(2))
    assert g.steps.value.dtype == jax.dtypes.float0


def test_graph_mode_keeps_the_param_state() -> None:
    g = grad(lambda m, x: m(x))(Scaled(), jnp.ones(2))
    assert isinstance(g, State) and set(g.keys()) == {"w"}


def test_a_diffstate_without_graph_updates_keeps_its_filter() -> None:
    # Flax 0.12.8 refuses DiffState here; its meaning (a State of what it selects) is kept.
    g = grad(lambda m, x: m(x), argnums=DiffState(0, Variable), graph=False)(Scaled(), jnp.ones(2))
    assert isinstance(g, State) and set(g.keys()) == {"w", "seen", "c"}


@pytest.mark.parametrize("op", ["grad", "value_and_grad", "vjp"])
def test_reduce_axes_is_taken_and_refused_unless_empty(op: str) -> None:
    from nnx_transforms import vjp

    transform = {"grad": grad, "value_and_grad": value_and_grad, "vjp": vjp}[op]
    with pytest.raises(NotImplementedError, match=r"(?s)reduce_axes=\('batch',\).*psum"):
        transform(lambda w: w.value * 2, reduce_axes=("batch",))
    assert transform(reduce_axes=())(lambda w: w.value * 2) is not None
