"""``graph=`` / ``graph_updates=`` on the transforms, with Flax NNX 0.12.8's outcomes.

Tree mode refuses shared arguments by path. Without graph updates the caller's
Variables get their new values, but attributes added or replaced inside stay inside,
and returning an input object is refused. ``set_graph_mode`` / ``set_graph_updates``
change the default as a plain call, a context manager or a decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, Variable, set_graph_mode, set_graph_updates
from nnx_transforms import (
    cond,
    eval_shape,
    fori_loop,
    grad,
    jit,
    remat,
    switch,
    value_and_grad,
    vmap,
    while_loop,
)
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


def grow(m: Counter, x: jax.Array) -> jax.Array:
    m.extra = Param(jnp.array(5.0))
    m.w = Param(jnp.array(7.0))
    m.count.value += 1
    return x


def _jit(mode: dict[str, bool]) -> Callable[..., Any]:
    return lambda f: jit(f, **mode)


NO_UPDATES = [{"graph_updates": False}, {"graph": False}]


@pytest.mark.parametrize("mode", NO_UPDATES, ids=["graph_updates=False", "graph=False"])
def test_jit_without_updates_writes_values_but_not_structure(mode: dict[str, bool]) -> None:
    m = Counter()
    w = m.w
    assert float(jit(grow, **mode)(m, jnp.ones(()))) == 1.0
    assert float(m.count.value) == 1.0  # the Variable's new value came back
    assert not hasattr(m, "extra") and m.w is w and float(m.w.value) == 2.0


def test_jit_with_graph_updates_writes_structure_back() -> None:
    m = Counter()
    jit(grow)(m, jnp.ones(()))
    assert float(m.extra.value) == 5.0 and float(m.w.value) == 7.0


@pytest.mark.parametrize("mode", NO_UPDATES, ids=["graph_updates=False", "graph=False"])
def test_returning_an_input_without_updates_is_refused_and_changes_nothing(
    mode: dict[str, bool],
) -> None:
    m = Counter()

    def step(m: Counter) -> Counter:
        m.count.value += 1
        return m

    with pytest.raises(ValueError, match=r"(?s)args\[0\] and result.*graph_updates=True"):
        jit(step, **mode)(m)
    assert float(m.count.value) == 0.0
    assert jit(step)(m) is m  # graph updates: the input itself comes back


def test_a_new_object_can_be_returned_without_updates() -> None:
    out = jit(lambda x: Counter(), graph_updates=False)(jnp.ones(()))
    assert float(out.w.value) == 2.0


@pytest.mark.parametrize(
    "call",
    [
        lambda t, mode: jit(lambda t: t.a + 1, **mode)(t),
        lambda t, mode: grad(lambda t: t.a.value * 2, **mode)(t),
        lambda t, mode: value_and_grad(lambda t: t.a.value * 2, **mode)(t),
        lambda t, mode: vmap(lambda t, x: t.a * x, in_axes=(None, 0), **mode)(t, jnp.ones(2)),
        lambda t, mode: remat(lambda t: t.a * 2, **mode)(t),
        lambda t, mode: cond(True, lambda t: t.a * 1, lambda t: t.a * 2, t, **mode),
        lambda t, mode: switch(0, [lambda t: t.a * 1], t, **mode),
        lambda t, mode: fori_loop(0, 2, lambda i, t: t, t, **mode),
        lambda t, mode: while_loop(lambda t: False, lambda t: t, t, **mode),
        lambda t, mode: eval_shape(lambda t: t.a * 2, t, **mode),
    ],
    ids=[
        "jit",
        "grad",
        "value_and_grad",
        "vmap",
        "remat",
        "cond",
        "switch",
        "fori_loop",
        "while_loop",
        "eval_shape",
    ],
)
def test_tree_mode_refuses_a_shared_variable_naming_both_paths(call: Any) -> None:
    t = Tied()
    with pytest.raises(ValueError, match=r"(?s)args\[0\]\.a and args\[0\]\.b.*graph=True"):
        call(t, {"graph": False})
    call(t, {})  # graph mode keeps the sharing
    call(t, {"graph_updates": False})  # so does graph mode without updates, as in flax


def test_tree_mode_refuses_one_object_passed_twice() -> None:
    m = Counter()
    with pytest.raises(ValueError, match=r"args\[0\] and args\[1\]"):
        jit(lambda a, b: a.w + b.w, graph=False)(m, m)
    assert float(jit(lambda a, b: a.w + b.w)(m, m)) == 4.0


def test_cond_without_updates_writes_values() -> None:
    m = Counter()

    def bump(m: Counter) -> None:
        m.count.value += 1
        m.extra = Variable(jnp.array(1.0))

    cond(True, bump, bump, m, graph_updates=False)
    assert float(m.count.value) == 1.0 and not hasattr(m, "extra")


def test_set_graph_mode_as_context_manager_decorator_and_plain_call() -> None:
    t = Tied()
    f = jit(lambda t: t.a + 1)
    with set_graph_mode(False):
        assert set_graph_mode.current_value() is False
        with pytest.raises(ValueError, match="shared references"):
            jit(lambda t: t.a + 1)(t)  # the default is read when the transform is made
    assert float(f(t)) == 2.0

    @set_graph_mode(False)
    def make() -> Any:
        return jit(lambda t: t.a + 1)

    assert set_graph_mode.current_value() is True
    with pytest.raises(ValueError, match="shared references"):
        make()(t)

    with set_graph_mode(True):
        set_graph_mode(False)  # a plain call sets the value until the block ends
        assert set_graph_mode.current_value() is False
    assert set_graph_mode.current_value() is True


def test_set_graph_updates_changes_the_default() -> None:
    m = Counter()
    with set_graph_updates(False):
        step = jit(grow)
    step(m, jnp.ones(()))
    assert not hasattr(m, "extra") and float(m.count.value) == 1.0
