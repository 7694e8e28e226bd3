"""nnx.make_jaxpr: the jaxpr of a function of modules; the modules are left untouched."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import make_jaxpr
from nnx_variables import BatchStat, Param


class Counter(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array(2.0))
        self.count = BatchStat(jnp.array(0.0))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.count.value += 1
        return self.w * x


@pytest.mark.parametrize(
    "mode", [{}, {"graph_updates": False}, {"graph": False}], ids=["default", "gu", "tree"]
)
def test_jaxpr_takes_the_leaves_and_returns_the_result_only(mode: dict[str, bool]) -> None:
    m = Counter()
    jaxpr = make_jaxpr(lambda m, x: m(x), **mode)(m, 3.0)
    assert isinstance(jaxpr, jax.extend.core.ClosedJaxpr)
    assert len(jaxpr.jaxpr.invars) == 3 and len(jaxpr.jaxpr.outvars) == 1
    assert float(m.count.value) == 0.0  # traced, never written back


def test_static_argnums_and_keywords() -> None:
    m = Counter()
    jaxpr = make_jaxpr(lambda m, n: m.w * n, static_argnums=1)(m, 3)
    assert len(jaxpr.jaxpr.invars) == 2
    jaxpr = make_jaxpr(lambda m, x: m.w * x)(m, x=3.0)
    assert len(jaxpr.jaxpr.invars) == 3


def test_a_returned_module_is_its_leaves() -> None:
    jaxpr = make_jaxpr(lambda m: Counter())(Counter())
    assert len(jaxpr.jaxpr.outvars) == 2
