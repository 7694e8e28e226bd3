"""One contract over every transform: sharing kept, mutations out, failures roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import PartitionSpec

from nnx_graph import Module, Variable
from nnx_transforms import (
    Carry,
    checkify,
    cond,
    custom_vjp,
    eval_shape,
    grad,
    jit,
    pmap,
    remat,
    scan,
    shard_map,
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


def _custom_vjp(f: Callable[..., Any]) -> Callable[..., Any]:
    wrapped = custom_vjp(f)
    wrapped.defvjp(lambda a, b: (f(a, b), None), lambda res, g: g[0])
    return lambda a, b: grad(wrapped)(a, b)


def _shard_map(f: Callable[..., Any]) -> Callable[..., Any]:
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    spec = PartitionSpec()
    return shard_map(f, mesh=mesh, in_specs=(spec, spec), out_specs=spec)


TRANSFORMS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "jit": jit,
    "grad": lambda f: grad(f, argnums=0),
    "value_and_grad": lambda f: value_and_grad(f, argnums=0),
    "vmap": lambda f: lambda a, b: vmap(f, in_axes=(None, None), axis_size=1)(a, b),
    "remat": remat,
    "cond": lambda f: lambda a, b: cond(True, f, f, a, b),
    "switch": lambda f: lambda a, b: switch(0, [f, f], a, b),
    "custom_vjp": _custom_vjp,
    "checkify": lambda f: lambda a, b: checkify(f)(a, b)[1],
    "shard_map": _shard_map,
    "pmap": lambda f: (
        lambda a, b: pmap(lambda a, b, _: f(a, b), in_axes=(None, None, 0))(a, b, jnp.zeros(1))
    ),
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
