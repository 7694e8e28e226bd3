"""An object captured by closure and returned from a transform (issue 10).

``nnx.jit(lambda x: m)(x)`` used to hand back a copy and poison ``m``. Flax NNX refuses
it under jit and leaves ``m`` usable; under cond, remat, eval_shape and as grad's aux it
returns the object's value. We do the same, and never poison the captured object.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import cond, eval_shape, grad, jit, remat
from nnx_variables import Param


class Box(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.array(1.0))


def test_jit_refuses_a_returned_captured_object_and_leaves_it_usable() -> None:
    m = Box()

    def get(x: jax.Array) -> Box:
        return m

    with pytest.raises(
        ValueError, match=r"(?s)nnx.jit.*result: Box.*captured as `m`.*Fix: add `m`"
    ):
        jit(get)(jnp.ones(()))
    assert float(m.w.value + 1) == 2.0
    assert float(jit(lambda m: m.w * 2)(m)) == 2.0  # still a valid argument


def test_jit_refuses_a_captured_object_inside_the_result() -> None:
    m = Box()
    with pytest.raises(ValueError, match=r"(?s)result\[1\]\['model'\]: Box"):
        jit(lambda x: (x, {"model": m}))(jnp.ones(()))
    assert float(m.w.value) == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda m: cond(True, lambda x: m, lambda x: m, 1.0),
        lambda m: remat(lambda x: m)(1.0),
        lambda m: grad(lambda b: (b.w.value**2, m), has_aux=True)(Box())[1],
    ],
    ids=["cond", "remat", "grad-aux"],
)
def test_other_transforms_return_the_value_and_leave_the_capture_usable(call: Any) -> None:
    m = Box()
    out = call(m)
    assert isinstance(out, Box) and float(out.w.value) == 1.0
    assert float(m.w.value * 3) == 3.0


def test_eval_shape_of_a_captured_object_is_abstract_and_leaves_it_usable() -> None:
    m = Box()
    out = eval_shape(lambda: m)
    assert out.w.value.shape == ()
    assert float(m.w.value * 3) == 3.0
