"""WeightNorm against numpy: kernels rescaled to unit column norms times their scales."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, state
from nnx_layers import Conv, Linear, WeightNorm, initializers
from nnx_transforms import jit
from nnx_variables import Param, Rngs


def numpy_weight_norm(w, feature_axes, scale=None, eps=1e-12):
    w = np.asarray(w, np.float64)
    reduce = tuple(i for i in range(w.ndim) if i not in feature_axes)
    out = w / np.sqrt((w * w).sum(axis=reduce, keepdims=True) + eps)
    if scale is not None:
        shape = [w.shape[i] if i in feature_axes else 1 for i in range(w.ndim)]
        out = out * np.reshape(scale, shape)
    return out


def test_linear_kernel_is_normalised_per_output_and_used_by_the_call():
    rngs = Rngs(0)
    layer = WeightNorm(Linear(4, 3, rngs=rngs), rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...])
    x = jax.random.normal(jax.random.key(1), (2, 4))
    y = layer(x)
    want_w = numpy_weight_norm(w0, (1,))
    np.testing.assert_allclose(layer.layer_instance.kernel[...], want_w, atol=1e-6)
    np.testing.assert_allclose(y, np.asarray(x) @ want_w, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(want_w, axis=0), np.ones(3), atol=1e-6)


@pytest.mark.parametrize(
    ("feature_axes", "axes", "scale_shape"),
    [(-1, (3,), (4,)), ((-2, -1), (2, 3), (2, 4)), (None, (), ()), (0, (0,), (3,))],
)
def test_conv_feature_axes(feature_axes, axes, scale_shape):
    rngs = Rngs(0)
    init = initializers.constant(0.5)
    layer = WeightNorm(
        Conv(2, 4, (3, 3), rngs=rngs), feature_axes=feature_axes, scale_init=init, rngs=rngs
    )
    assert layer.scales[("kernel",)].shape == scale_shape
    w0 = np.asarray(layer.layer_instance.kernel[...])
    layer(jnp.ones((1, 5, 5, 2)))
    want = numpy_weight_norm(w0, axes, np.full(scale_shape, 0.5))
    np.testing.assert_allclose(layer.layer_instance.kernel[...], want, atol=1e-6)


def test_state_paths_and_no_key_drawn():
    rngs = Rngs(0)
    layer = WeightNorm(Linear(4, 3, rngs=rngs), rngs=rngs)
    assert int(rngs.params.count.value) == 2  # the Linear's kernel and bias only
    pure = state(layer).to_pure_dict()
    assert set(pure) == {"layer_instance", "scales"}
    assert list(pure["scales"]) == [("kernel",)]
    assert ("scales",) not in [p[:1] for p, _ in state(layer, Param).flat_state()]
    unscaled = WeightNorm(Linear(4, 3, rngs=rngs), use_scale=False, rngs=rngs)
    assert unscaled.scales is None
    assert "scales" not in state(unscaled).to_pure_dict()


def test_variable_filter_selects_the_bias_too():
    rngs = Rngs(0)
    layer = WeightNorm(
        Linear(4, 3, bias_init=initializers.ones, rngs=rngs), variable_filter=..., rngs=rngs
    )
    layer(jnp.ones((1, 4)))
    np.testing.assert_allclose(layer.layer_instance.bias[...], np.ones(3), atol=1e-6)


def test_inside_jit_and_bf16_dtype():
    rngs = Rngs(0)
    layer = WeightNorm(Linear(4, 3, rngs=rngs), dtype=jnp.bfloat16, rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...])
    y = jit(lambda m, x: m(x))(layer, jnp.ones((2, 4)))
    kernel = layer.layer_instance.kernel[...]
    assert kernel.dtype == jnp.bfloat16  # as flax: the weight is stored in ``dtype``
    assert y.dtype == jnp.float32  # the Linear itself promotes with its float32 bias
    np.testing.assert_allclose(
        np.asarray(kernel, np.float32), numpy_weight_norm(w0, (1,)), atol=1e-2
    )


def test_a_weight_without_a_scale_names_its_path_and_the_fix():
    rngs = Rngs(0)
    layer = WeightNorm(Linear(4, 3, rngs=rngs), rngs=rngs)
    layer.layer_instance.sub = Linear(4, 3, rngs=rngs)
    with pytest.raises(
        RuntimeError, match=r"(?s)layer_instance\.sub\.kernel.*Fix: build the WeightNorm"
    ):
        layer(jnp.ones((1, 4)))


def test_a_bad_input_leaves_the_weights_alone():
    rngs = Rngs(0)
    layer = WeightNorm(Linear(4, 3, rngs=rngs), rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...])
    with pytest.raises(LayerInputError, match=r"(?s)WeightNorm.*Fix: pass a jax\.Array"):
        layer("abc")
    np.testing.assert_array_equal(layer.layer_instance.kernel[...], w0)
