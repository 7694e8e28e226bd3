"""nnx.checkify: errors as values, object updates out, sharing kept."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest
from jax.experimental import checkify as jc

from nnx_graph import Module
from nnx_transforms import checkify, jit
from nnx_variables import BatchStat, Param


class Counted(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array(2.0))
        self.count = BatchStat(jnp.array(0))


def f(m: Counted, x: jax.Array) -> Any:
    m.count.value = m.count.value + 1
    jc.check(x > 0, "x must be positive, got {x}", x=x)
    return m.w.value * x


def test_a_failed_check_is_returned_and_updates_still_come_out() -> None:
    m = Counted()
    err, out = checkify(f)(m, jnp.array(-1.0))
    assert err.get() is not None and "x must be positive, got -1" in err.get()
    assert float(out) == -2.0
    assert int(m.count.value) == 1
    with pytest.raises(jc.JaxRuntimeError, match="positive"):
        err.throw()


def test_under_jit_and_with_float_checks() -> None:
    m = Counted()
    err, out = jit(checkify(f, errors=jc.float_checks | jc.user_checks))(m, jnp.array(3.0))
    assert err.get() is None and float(out) == 6.0
    assert int(m.count.value) == 1

    def divides(m: Counted, x: jax.Array) -> Any:
        return jnp.log(x) * m.w.value

    err, _ = checkify(divides, errors=jc.nan_checks)(m, jnp.array(-1.0))
    assert "nan" in (err.get() or "")


def test_objects_in_kwargs_and_sharing() -> None:
    m = Counted()

    def both(a: Counted, *, b: Counted) -> Any:
        assert a is b
        a.count.value = a.count.value + 1
        return b.w.value

    err, out = checkify(both)(m, b=m)
    assert err.get() is None and float(out) == 2.0 and int(m.count.value) == 1
