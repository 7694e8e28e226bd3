"""One contract over every transform: sharing kept, mutations out, failures roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import pytest

from nnx_graph import Module, Variable
from nnx_transforms import (
    Carry,
    cond,
    eval_shape,
    grad,
    jit,
    remat,
    scan,
    switch,
    value_and_grad,
    vmap,
)
from nnx_variables import Param


class Shared(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(()))
        self.calls = Variable(jnp.zeros(()))


class Holder(Module):
    def __init__(self, shared: Shared) -> None:
        self.shared = shared


def body(a: Holder, b: Holder) -> Any:
    """Checks sharing inside, mutates through one path, returns a differentiable scalar."""
    assert a.shared is b.shared, "sharing between arguments was lost"
    a.shared.calls.value = a.shared.calls.value + 1
    return (b.shared.w.value * 2.0).sum()


def _scan(f: Callable[..., Any]) -> Callable[..., Any]:
    def run(a: Holder, b: Holder) -> Any:
        def step(a: Holder, b: Holder, carry: Any, _: Any) -> Any:
            return carry + f(a, b)

        looped = scan(step, in_axes=(None, None, Carry, 0), out_axes=Carry)
        return looped(a, b, jnp.zeros(()), jnp.arange(1))

    return run


TRANSFORMS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "jit": jit,
    "grad": lambda f: grad(f, argnums=0),
    "value_and_grad": lambda f: value_and_grad(f, argnums=0),
    "vmap": lambda f: lambda a, b: vmap(f, in_axes=(None, None), axis_size=1)(a, b),
    "remat": remat,
    "cond": lambda f: lambda a, b: cond(True, f, f, a, b),
    "switch": lambda f: lambda a, b: switch(0, [f, f], a, b),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_sharing_is_kept_and_mutations_come_out(name: str) -> None:
    shared = Shared()
    a, b = Holder(shared), Holder(shared)
    TRANSFORMS[name](body)(a, b)
    assert a.shared is b.shared is shared
    assert float(shared.calls.value) == 1.0


def test_scan_keeps_sharing_for_broadcast_arguments() -> None:
    shared = Shared()
    a, b = Holder(shared), Holder(shared)

    def read_only(a: Holder, b: Holder) -> Any:
        assert a.shared is b.shared
        return b.shared.w.value

    assert float(_scan(read_only)(a, b)) == 1.0


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_a_raising_call_leaves_objects_unchanged(name: str) -> None:
    shared = Shared()
    a, b = Holder(shared), Holder(shared)

    def fails(a: Holder, b: Holder) -> Any:
        body(a, b)
        a.shared.w.value = a.shared.w.value + 100
        raise RuntimeError("fails inside")

    with pytest.raises(RuntimeError, match="fails inside"):
        TRANSFORMS[name](fails)(a, b)
    assert float(shared.calls.value) == 0.0
    assert float(shared.w.value) == 1.0


def test_eval_shape_sees_the_sharing_but_changes_nothing() -> None:
    shared = Shared()
    a, b = Holder(shared), Holder(shared)
    eval_shape(body, a, b)
    assert float(shared.calls.value) == 0.0
