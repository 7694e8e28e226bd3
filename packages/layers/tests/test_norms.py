"""RMSNorm, GroupNorm, InstanceNorm and the mask / use_fast_variance options, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError
from nnx_layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RMSNorm
from nnx_variables import Rngs

X = np.asarray(jax.random.normal(jax.random.key(0), (2, 3, 4, 6)), np.float64) * 3 + 100


def standardise(x, axes, eps):
    mean = x.mean(axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axes, keepdims=True) + eps)


def test_rmsnorm():
    y = RMSNorm(6, rngs=Rngs(0))(jnp.asarray(X, jnp.float32))
    expected = X / np.sqrt((X**2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_groupnorm_over_groups_and_space():
    gn = GroupNorm(6, num_groups=3, rngs=Rngs(0))
    y = gn(jnp.asarray(X, jnp.float32))
    grouped = X.reshape(2, 3, 4, 3, 2)
    expected = standardise(grouped, (1, 2, 4), 1e-6).reshape(X.shape)
    np.testing.assert_allclose(y, expected, atol=2e-3)  # fast variance around a mean of 100
    assert GroupNorm(6, num_groups=None, group_size=2, rngs=Rngs(0)).num_groups == 3
    with pytest.raises(ValueError, match=r"exactly one of num_groups and group_size(.|\n)*Fix"):
        GroupNorm(6, group_size=2, rngs=Rngs(0))
    with pytest.raises(ValueError, match=r"cannot be split(.|\n)*Fix"):
        GroupNorm(6, num_groups=4, rngs=Rngs(0))
    with pytest.raises(LayerInputError, match=r"channels last"):
        gn(jnp.ones((2, 5)))


def test_instancenorm():
    y = InstanceNorm(6, rngs=Rngs(0))(jnp.asarray(X, jnp.float32))
    np.testing.assert_allclose(y, standardise(X, (1, 2), 1e-6), atol=2e-3)
    with pytest.raises(LayerInputError, match=r"batch axis(.|\n)*feature_axes=-1"):
        InstanceNorm(2, feature_axes=0, rngs=Rngs(0))(jnp.ones((2, 3)))


def test_slow_variance_keeps_digits_the_fast_one_loses():
    x = jnp.asarray(X, jnp.float32)
    expected = standardise(X, (3,), 1e-6)
    slow = LayerNorm(6, use_fast_variance=False, rngs=Rngs(0))(x)
    fast = LayerNorm(6, rngs=Rngs(0))(x)
    slow_err = np.abs(np.asarray(slow) - expected).max()
    assert slow_err < 1e-4 and slow_err < np.abs(np.asarray(fast) - expected).max()


def test_mask_restricts_statistics():
    x = jnp.asarray(X[:, 0, 0], jnp.float32)  # (2, 6)
    mask = jnp.array([[True] * 4 + [False] * 2] * 2)
    y = LayerNorm(6, use_fast_variance=False, rngs=Rngs(0))(x, mask=mask)
    kept = X[:, 0, 0, :4]
    expected = (X[:, 0, 0] - kept.mean(-1, keepdims=True)) / np.sqrt(
        kept.var(-1, keepdims=True) + 1e-6
    )
    np.testing.assert_allclose(y, expected, atol=1e-4)
    bn = BatchNorm(6, use_fast_variance=False, rngs=Rngs(0))
    rows = jnp.array([[True] * 6, [False] * 6])
    bn(x, mask=rows)
    np.testing.assert_allclose(bn.mean.value, 0.01 * X[0, 0, 0], rtol=1e-5)
    y = RMSNorm(6, rngs=Rngs(0))(x, mask=mask)
    np.testing.assert_allclose(
        y, X[:, 0, 0] / np.sqrt((kept**2).mean(-1, keepdims=True)), rtol=1e-5
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda dt: RMSNorm(6, dtype=dt, rngs=Rngs(0)),
        lambda dt: GroupNorm(6, num_groups=2, dtype=dt, rngs=Rngs(0)),
        lambda dt: InstanceNorm(6, dtype=dt, rngs=Rngs(0)),
    ],
)
def test_bf16_compute_with_float32_params_and_statistics(make):
    x = jnp.asarray(X - 100, jnp.float32)
    layer, ref = make(jnp.bfloat16), make(None)
    y = layer(x.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and layer.scale.value.dtype == jnp.float32
    np.testing.assert_allclose(y.astype(jnp.float32), ref(x), atol=5e-2)
