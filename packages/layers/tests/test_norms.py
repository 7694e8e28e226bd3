"""RMSNorm, GroupNorm, InstanceNorm and the mask / use_fast_variance options, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, merge, split
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


# promote_dtype and axis_index_groups, one contract over the five normalisations. The
# numbers below were printed by flax 0.12.8 (flax.nnx) for the same inputs and keywords.


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


NORMS = {
    "BatchNorm": lambda **kw: BatchNorm(4, **kw),
    "LayerNorm": lambda **kw: LayerNorm(4, **kw),
    "RMSNorm": lambda **kw: RMSNorm(4, **kw),
    "GroupNorm": lambda **kw: GroupNorm(4, num_groups=2, **kw),
    "InstanceNorm": lambda **kw: InstanceNorm(2, **kw),
}
X3 = jnp.array([[0.5, -1.0, 2.0, 3.5], [1.5, 0.25, -2.0, 4.0], [-0.75, 3.0, 1.0, 0.0]])
# flax 0.12.8, promote_dtype=to_bfloat16, rngs=Rngs(0); InstanceNorm sees X3 as (2, 3, 2).
FLAX_BFLOAT16 = {
    "BatchNorm": [[0.09, -1.047, 0.98, 0.562], [1.18, -0.299, -1.375, 0.844],
                  [-1.266, 1.344, 0.393, -1.406]],
    "LayerNorm": [[-0.447, -1.344, 0.447, 1.344], [0.26, -0.316, -1.352, 1.414],
                  [-1.109, 1.555, 0.133, -0.578]],
    "RMSNorm": [[0.239, -0.479, 0.957, 1.672], [0.637, 0.106, -0.848, 1.695],
                [-0.461, 1.844, 0.617, 0.0]],
    "GroupNorm": [[1.0, -1.0, -1.0, 1.0], [1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]],
    "InstanceNorm": [[[-1.336, -1.008], [1.07, 1.359], [0.268, -0.352]],
                     [[-1.148, 0.98], [-0.136, 0.393], [1.289, -1.375]]],
}  # fmt: skip


@pytest.mark.parametrize("name", NORMS)
def test_promote_dtype_casts_inputs_and_params_as_flax_does(name):
    norm = NORMS[name](promote_dtype=to_bfloat16, rngs=Rngs(0))
    assert norm.promote_dtype is to_bfloat16
    x = X3.reshape(2, 3, 2) if name == "InstanceNorm" else X3
    y = norm(x)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), FLAX_BFLOAT16[name], atol=1e-3)
    if name == "BatchNorm":  # the running statistics stay float32 (flax 0.12.8's numbers)
        assert norm.mean.value.dtype == jnp.float32
        np.testing.assert_allclose(norm.mean.value, [0.00417, 0.0075, 0.00333, 0.025], atol=1e-5)


@pytest.mark.parametrize("name", NORMS)
def test_promote_dtype_sees_the_layer_dtype(name):
    seen = []

    def record(arrays, /, *, dtype=None, inexact=True):
        seen.append((len(arrays), dtype))
        return to_bfloat16(arrays)

    norm = NORMS[name](dtype=jnp.float16, promote_dtype=record, rngs=Rngs(0))
    norm(X3.reshape(2, 3, 2) if name == "InstanceNorm" else X3)
    # (x, scale) for RMSNorm, (x, mean, var, scale, bias) for BatchNorm, else (x, scale, bias)
    size = {"RMSNorm": 2, "BatchNorm": 5}.get(name, 3)
    assert seen == [(size, jnp.float16)]


@pytest.mark.parametrize("name", NORMS)
def test_axis_index_groups_is_stored_and_defaults_to_none(name):
    assert NORMS[name](rngs=Rngs(0)).axis_index_groups is None
    norm = NORMS[name](axis_name="i", axis_index_groups=[[0, 1]], rngs=Rngs(0))
    assert norm.axis_index_groups == [[0, 1]]


@pytest.mark.parametrize("name", NORMS)
def test_axis_index_groups_under_vmap_names_the_way_out(name):
    norm = NORMS[name](axis_name="i", axis_index_groups=[[0], [1]], rngs=Rngs(0))
    graphdef, state = split(norm)
    base = X3.reshape(2, 3, 2) if name == "InstanceNorm" else X3
    # flax 0.12.8 lets JAX's own NotImplementedError through; ours keeps the type.
    pattern = r"axis_index_groups=\[\[0\], \[1\]\](.|\n)*vmap collectives(.|\n)*Fix: nnx.pmap"
    with pytest.raises(NotImplementedError, match=pattern):
        jax.vmap(lambda x: merge(graphdef, state)(x), axis_name="i")(jnp.stack([base, base + 1]))


PMAP_X = jnp.arange(48.0).reshape(8, 3, 2) ** 1.5 / 10
# flax 0.12.8 under jax.pmap over 8 devices, groups [[0..3], [4..7]]: y[::3, 0].
FLAX_GROUPED = {
    "BatchNorm": [[-1.2613, -1.3076], [1.0197, 1.0191], [0.0965, 0.0979]],
    "LayerNorm": [[-1.1706, -1.1374], [1.3668, 1.5812], [0.3287, 0.4842]],
    "RMSNorm": [[0.0, 0.0216], [1.6481, 1.7874], [1.0522, 1.0963]],
    "GroupNorm": [[-1.1706, -1.1374], [1.3668, 1.5812], [0.3287, 0.4842]],
    "InstanceNorm": [[-1.141, -1.1726], [1.4869, 1.4702], [0.407, 0.4082]],
}
TWO_FEATURES = {
    "BatchNorm": lambda **kw: BatchNorm(2, **kw),
    "LayerNorm": lambda **kw: LayerNorm(2, **kw),
    "RMSNorm": lambda **kw: RMSNorm(2, **kw),
    "GroupNorm": lambda **kw: GroupNorm(2, num_groups=1, **kw),
    "InstanceNorm": lambda **kw: InstanceNorm(2, **kw),
}


@pytest.mark.skipif(
    jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)
@pytest.mark.parametrize("name", TWO_FEATURES)
def test_axis_index_groups_average_within_each_group_under_pmap(name):
    groups = [[0, 1, 2, 3], [4, 5, 6, 7]]
    norm = TWO_FEATURES[name](axis_name="i", axis_index_groups=groups, rngs=Rngs(0))
    graphdef, state = split(norm)

    def step(state, x):
        model = merge(graphdef, state)
        return model(x), split(model)[1]

    y, new_state = jax.pmap(step, axis_name="i", in_axes=(None, 0))(state, PMAP_X)
    np.testing.assert_allclose(y[::3, 0], FLAX_GROUPED[name], atol=1e-4)
    if name == "BatchNorm":  # one running mean per group (flax 0.12.8's numbers)
        means = new_state["mean"].value
        np.testing.assert_allclose(means[::4], [[0.04223, 0.04698], [0.2101, 0.21899]], atol=1e-5)
        np.testing.assert_allclose(means[:4], jnp.broadcast_to(means[0], (4, 2)))
