"""Conv paddings and mask, ConvTranspose, Linear(dot_general): same as flax.nnx 0.12.8."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import state
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")


def assert_same(a, b, x):
    sa = jax.tree.map(np.asarray, state(a).to_pure_dict())
    sb = jax.tree.map(np.asarray, fnnx.to_pure_dict(fnnx.state(b)))
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-6), sa, sb)
    np.testing.assert_allclose(a(x), b(x), atol=1e-5)


@pytest.mark.parametrize(
    ("kernel_size", "kwargs"),
    [
        ((3, 2), {"padding": "CIRCULAR", "kernel_dilation": (2, 1)}),
        ((3, 2), {"padding": "REFLECT", "strides": 2}),
        ((3,), {"padding": "CAUSAL", "kernel_dilation": 2}),
        ((3,), {"padding": "VALID", "mask": jnp.tril(jnp.ones((3, 4, 5)))}),
    ],
)
def test_conv(kernel_size, kwargs):
    a = ours.Conv(4, 5, kernel_size, rngs=Rngs(0), **kwargs)
    b = fnnx.Conv(4, 5, kernel_size, rngs=fnnx.Rngs(0), **kwargs)
    x = jax.random.normal(jax.random.key(1), (2, *[7] * len(kernel_size), 4))
    assert_same(a, b, x)


@pytest.mark.parametrize(
    ("kernel_size", "kwargs"),
    [
        ((3,), {"padding": "VALID", "strides": 2}),
        ((3, 2), {"strides": (2, 1), "kernel_dilation": (1, 2)}),
        ((4, 3), {"padding": "CIRCULAR", "strides": 2}),
        ((4, 3), {"padding": "CIRCULAR", "strides": 2, "transpose_kernel": True}),
        ((3,), {"padding": ((1, 2),), "mask": jnp.tril(jnp.ones((3, 4, 5)))}),
    ],
)
def test_conv_transpose(kernel_size, kwargs):
    a = ours.ConvTranspose(4, 5, kernel_size, rngs=Rngs(0), **kwargs)
    b = fnnx.ConvTranspose(4, 5, kernel_size, rngs=fnnx.Rngs(0), **kwargs)
    x = jax.random.normal(jax.random.key(1), (2, *[5] * len(kernel_size), 4))
    assert_same(a, b, x)


def test_linear_with_dot_general():
    def dot_general(x, kernel, dims, precision=None, **kwargs):
        return jax.lax.dot_general(x, jnp.sign(kernel), dims, precision=precision, **kwargs)

    a = ours.Linear(3, 4, dot_general=dot_general, rngs=Rngs(0))
    b = fnnx.Linear(3, 4, dot_general=dot_general, rngs=fnnx.Rngs(0))
    assert_same(a, b, jax.random.normal(jax.random.key(1), (2, 3)))
