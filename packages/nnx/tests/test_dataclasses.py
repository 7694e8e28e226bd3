"""nnx.dataclasses, nnx.field and nnx.Static as flax 0.10.7 code spells them."""

import dataclasses

import jax
import jax.numpy as jnp

import nnx


def test_flax_0_10_dataclass_module_keeps_only_arrays_as_state():
    @nnx.dataclasses.dataclass
    class Point(nnx.Module):
        a: int
        w: jax.Array
        c: nnx.dataclasses.Static[int]
        d: int = nnx.field(static=True, default=4)
        e: int = nnx.dataclasses.static(default=5)
        f: int = nnx.dataclasses.field(default=6)

        def __call__(self, x):
            return x * self.a * self.c

    point = Point(1, jnp.ones(1), 3)
    # flax 0.10.7 printed State({'w': ...}): every other field is static
    assert list(nnx.state(point)) == ["w"]
    assert (point.d, point.e, point.f) == (4, 5, 6)
    assert [f.name for f in dataclasses.fields(Point)] == ["a", "w", "c", "d", "e", "f"]
    step = nnx.jit(lambda model, x: model(x))
    assert float(step(Point(2, jnp.ones(1), 3), jnp.ones(1))[0]) == 6.0  # flax 0.10.7: [6.]


def test_the_namespace_is_the_umbrella_s_names():
    assert nnx.dataclasses.dataclass is nnx.dataclass
    assert nnx.dataclasses.field is nnx.field
    assert nnx.dataclasses.static is nnx.static
    assert nnx.dataclasses.Static is nnx.Static
    assert "dataclasses" in dir(nnx)
