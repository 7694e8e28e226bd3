"""ConvTranspose against its definition: the gradient of a Conv, and a scatter in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_layers import Conv, ConvTranspose
from nnx_variables import Rngs


def scatter(x, kernel, stride):
    """1-d 'VALID' transposed convolution: each input adds ``x[i] * kernel`` at ``i*stride``.

    Without ``transpose_kernel`` lax correlates the dilated input with the kernel, so the
    kernel lands flipped along its spatial axis.
    """
    kernel = kernel[::-1]
    batch, size, _ = x.shape
    k = kernel.shape[0]
    y = np.zeros((batch, (size - 1) * stride + k, kernel.shape[-1]), np.float32)
    for i in range(size):
        y[:, i * stride : i * stride + k] += np.einsum("bc,kco->bko", x[:, i], kernel)
    return y


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_valid_is_a_scatter_of_the_kernel(stride):
    layer = ConvTranspose(3, 4, (3,), stride, padding="VALID", rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, 3))
    want = scatter(np.asarray(x), np.asarray(layer.kernel.value), stride) + np.asarray(
        layer.bias.value
    )
    np.testing.assert_allclose(layer(x), want, atol=1e-5)


def test_transpose_kernel_is_the_gradient_of_conv():
    conv = Conv(3, 4, (3, 3), padding="VALID", use_bias=False, rngs=Rngs(0))
    layer = ConvTranspose(
        4, 3, (3, 3), padding="VALID", use_bias=False, transpose_kernel=True, rngs=Rngs(0)
    )
    layer.kernel.value = conv.kernel.value
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 3))
    ct = jax.random.normal(jax.random.key(2), (2, 4, 4, 4))
    _, vjp = jax.vjp(conv, x)
    np.testing.assert_allclose(layer(ct), vjp(ct)[0], atol=1e-5)


def test_same_and_circular_sizes_and_circular_wraps_the_valid_result():
    x = jax.random.normal(jax.random.key(1), (2, 5, 3))
    same = ConvTranspose(3, 4, (3,), 2, rngs=Rngs(0))
    assert same(x).shape == (2, 10, 4)
    circ = ConvTranspose(3, 4, (4,), 2, padding="CIRCULAR", use_bias=False, rngs=Rngs(0))
    valid = scatter(np.asarray(x), np.asarray(circ.kernel.value), 2)  # length 12
    want = np.zeros((2, 10, 4), np.float32)
    shift = 1  # flax centres the 2 extra positions as (1, 1) before wrapping onto 10
    for j in range(valid.shape[1]):
        want[:, (j - shift) % 10] += valid[:, j]
    np.testing.assert_allclose(circ(x), want, atol=1e-5)


def test_mask_extra_batch_axes_and_bf16():
    mask = jnp.zeros((3, 3, 4)).at[0].set(1.0)
    layer = ConvTranspose(3, 4, 3, padding="VALID", mask=mask, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 2, 5, 3))
    kernel = np.asarray(layer.kernel.value) * np.asarray(mask)
    want = scatter(np.asarray(x).reshape(4, 5, 3), kernel, 1) + np.asarray(layer.bias.value)
    np.testing.assert_allclose(layer(x), want.reshape(2, 2, 7, 4), atol=1e-5)
    low = ConvTranspose(3, 4, 3, dtype=jnp.bfloat16, rngs=Rngs(0))
    assert low.kernel.value.dtype == jnp.float32
    y = low(x)
    assert y.dtype == jnp.bfloat16
    full = ConvTranspose(3, 4, 3, rngs=Rngs(0))
    np.testing.assert_allclose(y.astype(jnp.float32), full(x), atol=5e-2)


def test_wrong_mask_shape_is_rejected_before_drawing_keys():
    rngs = Rngs(0)
    with pytest.raises(
        ValueError,
        match=r"(?s)nnx\.ConvTranspose: mask .*\(3, 3, 4\).*"
        r"Fix: nnx\.ConvTranspose\(\.\.\., mask=jnp\.ones",
    ):
        ConvTranspose(3, 4, 3, mask=jnp.ones((3, 4, 3)), rngs=rngs)
    assert int(rngs.default.count.value) == 0
