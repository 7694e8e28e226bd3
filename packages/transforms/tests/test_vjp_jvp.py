"""nnx.vjp / nnx.jvp with Module primals, with Flax NNX 0.12.8's numbers.

Every Variable of a module primal is differentiated (a module is a pytree of its
Variables in 0.12): the cotangent of a module is a module of the same type holding
them, a BatchStat's included; the function's updates to the module are written back.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import jvp, vjp
from nnx_variables import BatchStat, Param


class Counter(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array(2.0))
        self.count = BatchStat(jnp.array(0.0))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.count.value += 1
        return self.w * x


class Tied(Module):
    def __init__(self) -> None:
        self.a = Param(jnp.array(1.0))
        self.b = self.a


def apply(m: Counter, x: Any) -> jax.Array:
    return m(x)


MODES = [{}, {"graph": False}, {"graph_updates": False}]
IDS = ["graph-updates", "graph=False", "graph_updates=False"]


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_vjp_of_a_module_gives_a_module_of_cotangents(mode: dict[str, bool]) -> None:
    m = Counter()
    out, vjp_fn = vjp(apply, m, 3.0, **mode)
    assert float(out) == 6.0 and float(m.count.value) == 1.0  # update written back
    m_bar, x_bar = vjp_fn(jnp.array(1.0))
    assert type(m_bar) is Counter and m_bar is not m
    assert float(m_bar.w.value) == 3.0 and float(m_bar.count.value) == 0.0
    assert float(x_bar) == 2.0


def test_vjp_has_aux_and_decorator_form() -> None:
    m = Counter()
    out, _, aux = vjp(lambda m, x: (m(x), {"a": x}), m, 3.0, has_aux=True)
    assert float(out) == 6.0 and aux == {"a": 3.0}
    out, _ = vjp(apply)(m, 3.0)
    assert float(out) == 6.0 and float(m.count.value) == 2.0


def test_vjp_in_graph_mode_sums_a_shared_variables_cotangent() -> None:
    _, vjp_fn = vjp(lambda t: t.a * t.b, Tied(), graph_updates=False)
    (t_bar,) = vjp_fn(jnp.array(1.0))
    assert float(t_bar.a.value) == 2.0 and t_bar.a is t_bar.b


def test_vjp_tree_mode_refuses_sharing() -> None:
    with pytest.raises(ValueError, match=r"args\[0\]\.a and args\[0\]\.b"):
        vjp(lambda t: t.a * t.b, Tied(), graph=False)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_jvp_takes_a_module_tangent(mode: dict[str, bool]) -> None:
    m = Counter()
    m_dot = jax.tree.map(jnp.ones_like, m)
    out, out_dot = jvp(apply, (m, 3.0), (m_dot, 1.0), **mode)
    assert (float(out), float(out_dot)) == (6.0, 5.0)
    assert float(m.count.value) == 1.0


def test_jvp_has_aux_and_decorator_form() -> None:
    m = Counter()
    m_dot = jax.tree.map(jnp.ones_like, m)
    out, out_dot, aux = jvp(lambda m, x: (m(x), x), (m, 3.0), (m_dot, 1.0), has_aux=True)
    assert (float(out), float(out_dot), aux) == (6.0, 5.0, 3.0)
    out, out_dot = jvp(apply)((m, 3.0), (m_dot, 1.0))
    assert float(out_dot) == 5.0


def test_jvp_refuses_tangents_of_another_structure() -> None:
    m = Counter()
    with pytest.raises(ValueError, match=r"(?s)nnx.jvp: the tangents.*Fix: tangents ="):
        jvp(apply, (m, 3.0), (1.0, 1.0))
    assert float(m.count.value) == 0.0
