import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, merge, split, view
from nnx_layers import BatchNorm, LayerNorm
from nnx_variables import BatchStat, Param, Rngs


def reference_batchnorm(x, epsilon=1e-5):
    mean = x.mean(axis=0)
    var = np.maximum(0.0, (x**2).mean(axis=0) - mean**2)
    return (x - mean) / np.sqrt(var + epsilon), mean, var


def test_batchnorm_state_kinds_and_defaults():
    rngs = Rngs(params=0)
    bn = BatchNorm(4, rngs=rngs)
    assert isinstance(bn.scale, Param) and isinstance(bn.bias, Param)
    assert isinstance(bn.mean, BatchStat) and isinstance(bn.var, BatchStat)
    np.testing.assert_array_equal(bn.scale.value, np.ones(4))
    np.testing.assert_array_equal(bn.bias.value, np.zeros(4))
    np.testing.assert_array_equal(bn.mean.value, np.zeros(4))
    np.testing.assert_array_equal(bn.var.value, np.ones(4))
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-5)
    assert int(rngs.params.count.value) == 2  # one key each for scale and bias


def test_batchnorm_training_normalises_and_updates_running_stats():
    x = np.asarray(jax.random.normal(jax.random.key(0), (8, 3)) * 2 + 1)
    bn = BatchNorm(3, rngs=Rngs(0))
    y = bn(jnp.asarray(x))
    expected, mean, var = reference_batchnorm(x)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.mean.value, 0.01 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.var.value, 0.99 + 0.01 * var, rtol=1e-5)


def test_batchnorm_inference_uses_running_average_and_changes_nothing():
    bn = BatchNorm(2, use_running_average=True, rngs=Rngs(0))
    bn.mean.value = jnp.array([1.0, 2.0])
    bn.var.value = jnp.array([4.0, 9.0])
    y = bn(jnp.array([[3.0, 5.0]]))
    np.testing.assert_allclose(y, [[2 / np.sqrt(4 + 1e-5), 3 / np.sqrt(9 + 1e-5)]], rtol=1e-6)
    np.testing.assert_array_equal(bn.mean.value, [1.0, 2.0])


def test_batchnorm_call_flag_overrides():
    bn = BatchNorm(2, rngs=Rngs(0))
    bn(jnp.ones((3, 2)), use_running_average=True)
    np.testing.assert_array_equal(bn.mean.value, np.zeros(2))


def test_batchnorm_variance_is_clamped_at_zero():
    # For these inputs E[x^2] - E[x]^2 rounds to -0.0156 in float32.
    x = jax.random.normal(jax.random.key(3), (16, 1)) * 1e-2 + 300.0
    assert float(jnp.mean(x * x) - jnp.mean(x) ** 2) < 0
    bn = BatchNorm(1, epsilon=1e-5, rngs=Rngs(0))
    y = bn(x)
    assert float(bn.var.value[0]) == pytest.approx(0.99)  # 0.99 * 1 + 0.01 * max(0, var)
    assert bool(jnp.all(jnp.isfinite(y)))


def test_batchnorm_feature_axis_and_extra_dims():
    bn = BatchNorm(3, axis=1, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 3, 5))
    y = bn(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.mean(axis=(0, 2)), np.zeros(3), atol=1e-5)


def test_batchnorm_scale_bias_optional_and_dtype():
    bn = BatchNorm(2, use_scale=False, use_bias=False, dtype=jnp.bfloat16, rngs=Rngs(0))
    assert bn.scale is None and bn.bias is None
    y = bn(jnp.ones((3, 2)))
    assert y.dtype == jnp.bfloat16
    assert bn.mean.value.dtype == jnp.float32


def test_batchnorm_axis_name_averages_over_mapped_axis():
    x = jax.random.normal(jax.random.key(2), (2, 4, 3))  # 2 devices x batch 4
    bn = BatchNorm(3, axis_name="batch", rngs=Rngs(0))
    graphdef, state = split(bn)

    def step(x):
        model = merge(graphdef, state)
        y = model(x)
        return y, split(model)[1]

    y, new_state = jax.vmap(step, axis_name="batch")(x)
    expected, mean, _ = reference_batchnorm(np.asarray(x).reshape(8, 3))
    np.testing.assert_allclose(y.reshape(8, 3), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_state["mean"].value[0], 0.01 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_state["mean"].value[1], new_state["mean"].value[0])


def test_batchnorm_without_axis_name_under_vmap_is_per_example_batch():
    x = jax.random.normal(jax.random.key(2), (2, 4, 3))
    graphdef, state = split(BatchNorm(3, rngs=Rngs(0)))
    y = jax.vmap(lambda x: merge(graphdef, state)(x))(x)
    expected, _, _ = reference_batchnorm(np.asarray(x[0]))
    np.testing.assert_allclose(y[0], expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_gradient_does_not_flow_into_running_stats():
    graphdef, params, stats = split(BatchNorm(2, rngs=Rngs(0)), Param, BatchStat)

    def loss(params, x):
        model = merge(graphdef, params, stats)
        return jnp.sum(model(x) ** 2) + jnp.sum(model.mean.value)

    grads = jax.grad(loss)(params, jnp.arange(6.0).reshape(3, 2))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(grads))


def test_batchnorm_wrong_feature_size():
    with pytest.raises(
        LayerInputError,
        match=r"BatchNorm: expected input with last dimension 4 \(num_features\), got shape "
        r"\(2, 3\)(.|\n)*Fix: normalise the axis of size 4",
    ):
        BatchNorm(4, rngs=Rngs(0))(jnp.ones((2, 3)))


def test_batchnorm_failed_call_leaves_state_unchanged():
    bn = BatchNorm(4, rngs=Rngs(0))
    with pytest.raises(LayerInputError):
        bn(jnp.ones((2, 3)))
    np.testing.assert_array_equal(bn.mean.value, np.zeros(4))


def test_batchnorm_multiple_feature_axes():
    bn = BatchNorm(6, axis=(1, 2), rngs=Rngs(0))
    assert bn(jnp.ones((4, 2, 3))).shape == (4, 2, 3)
    assert bn.mean.value.shape == (6,)
    with pytest.raises(LayerInputError, match=r"dimensions \(1, 2\) hold 6 features"):
        bn(jnp.ones((4, 2, 2)))


def test_layernorm_normalises_each_example():
    ln = LayerNorm(4, rngs=Rngs(0))
    assert ln.epsilon == 1e-6
    x = jax.random.normal(jax.random.key(0), (3, 4)) * 5 + 2
    y = np.asarray(ln(x))
    xn = np.asarray(x)
    expected = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_layernorm_scale_and_bias_apply_per_feature():
    ln = LayerNorm(2, rngs=Rngs(0))
    ln.scale.value = jnp.array([2.0, 3.0])
    ln.bias.value = jnp.array([1.0, -1.0])
    y = ln(jnp.array([[0.0, 2.0]]))
    np.testing.assert_allclose(y, [[-2 + 1, 3 - 1]], rtol=1e-5)


def test_layernorm_draws_two_keys_and_can_drop_params():
    rngs = Rngs(0)
    ln = LayerNorm(3, use_scale=False, rngs=rngs)
    assert ln.scale is None
    assert int(rngs.default.count.value) == 1


def test_layernorm_wrong_feature_size():
    with pytest.raises(
        LayerInputError,
        match=r"LayerNorm: expected input with last dimension 3 \(num_features\), got shape "
        r"\(2, 5\)(.|\n)*Fix",
    ):
        LayerNorm(3, rngs=Rngs(0))(jnp.ones((2, 5)))


def test_batch_norm_set_view_is_what_view_calls():
    bn = BatchNorm(3, rngs=Rngs(0))
    bn.set_view()  # nothing asked, nothing changed
    assert bn.use_running_average is False
    evaluated = view(bn, use_running_average=True)
    assert evaluated.use_running_average is True and bn.use_running_average is False
    assert evaluated.mean is bn.mean
