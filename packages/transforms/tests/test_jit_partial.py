"""nnx.jit_partial (flax 0.12): bound leading arguments, state written back every call."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import jit_partial
from nnx_variables import BatchStat, Param


class Counter(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array(2.0))
        self.count = BatchStat(jnp.array(0.0))

    def __call__(self, x: jax.Array) -> jax.Array:
        self.count.value += 1
        return self.w * x


def apply(m: Counter, x: jax.Array) -> jax.Array:
    return m(x)


@pytest.mark.parametrize(
    "mode",
    [{}, {"graph": False}, {"graph_updates": False}],
    ids=["graph-updates", "graph=False", "graph_updates=False"],
)
def test_bound_object_is_updated_and_calls_take_the_rest(mode: dict[str, bool]) -> None:
    m = Counter()
    f = jit_partial(apply, m, **mode)
    assert float(f(jnp.array(3.0))) == 6.0
    assert float(f(jnp.array(1.0))) == 2.0
    assert float(m.count.value) == 2.0
    assert f.cache_info().hits == 1  # the bound object rides the fast path


def test_edits_between_calls_are_seen() -> None:
    m = Counter()
    f = jit_partial(apply, m)
    f(jnp.array(1.0))
    m.w.value = jnp.array(10.0)
    assert float(f(jnp.array(1.0))) == 10.0


def test_static_argnums_count_the_bound_arguments() -> None:
    m = Counter()
    f = jit_partial(lambda m, n, x: m.w * x * n, m, static_argnums=1)
    assert float(f(3, jnp.array(1.0))) == 6.0


def test_tree_mode_refuses_a_bound_object_shared_with_a_call_argument() -> None:
    m = Counter()
    f = jit_partial(lambda a, b: a.w + b.w, m, graph=False)
    with pytest.raises(ValueError, match=r"args\[0\] and args\[1\]"):
        f(m)
    assert float(m.count.value) == 0.0
