import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module
from nnx_layers import Linear, initializers
from nnx_variables import Param, Rngs

# Linear(3, 4, rngs=Rngs(0)).kernel as the reference implementation (flax 0.12.8) draws it.
REFERENCE_KERNEL = np.array(
    [
        [0.6178674, -0.55987215, -0.46445078, -0.71505547],
        [-0.538841, 0.36689344, 0.44968855, -0.63056815],
        [0.9743239, -1.0750145, -0.78124726, 0.08368172],
    ],
    dtype=np.float32,
)


def test_reference_kernel_and_zero_bias():
    layer = Linear(3, 4, rngs=Rngs(0))
    np.testing.assert_allclose(layer.kernel.value, REFERENCE_KERNEL, rtol=1e-6)
    np.testing.assert_array_equal(layer.bias.value, np.zeros(4, np.float32))
    assert isinstance(layer.kernel, Param) and isinstance(layer.bias, Param)


def test_draws_one_params_key_for_kernel_and_one_for_bias():
    rngs = Rngs(params=0)
    Linear(3, 4, rngs=rngs)
    assert int(rngs.params.count.value) == 2
    rngs = Rngs(params=0)
    Linear(3, 4, use_bias=False, rngs=rngs)
    assert int(rngs.params.count.value) == 1


def test_kernel_is_lecun_normal_of_first_params_key():
    layer = Linear(5, 7, rngs=Rngs(params=3))
    key = jax.random.fold_in(jax.random.key(3), 0)
    expected = jax.nn.initializers.lecun_normal()(key, (5, 7), jnp.float32)
    np.testing.assert_array_equal(layer.kernel.value, expected)


def test_call_matches_matmul_with_extra_batch_dims():
    layer = Linear(3, 2, bias_init=initializers.ones, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 5, 3))
    y = layer(x)
    assert y.shape == (4, 5, 2)
    np.testing.assert_allclose(y, x @ layer.kernel.value + 1.0, rtol=1e-5, atol=1e-6)


def test_unbatched_input():
    layer = Linear(3, 2, rngs=Rngs(0))
    assert layer(jnp.ones(3)).shape == (2,)


def test_no_bias():
    layer = Linear(3, 2, use_bias=False, rngs=Rngs(0))
    assert layer.bias is None
    np.testing.assert_allclose(layer(jnp.ones((1, 3))), jnp.ones((1, 3)) @ layer.kernel.value)


def test_bfloat16_compute_keeps_float32_params():
    layer = Linear(3, 2, dtype=jnp.bfloat16, rngs=Rngs(0))
    y = layer(jnp.ones((2, 3)))
    assert y.dtype == jnp.bfloat16
    assert layer.kernel.value.dtype == jnp.float32
    assert layer.bias.value.dtype == jnp.float32


def test_param_dtype():
    layer = Linear(3, 2, param_dtype=jnp.bfloat16, rngs=Rngs(0))
    assert layer.kernel.value.dtype == jnp.bfloat16


def test_integer_input_is_promoted():
    layer = Linear(2, 2, rngs=Rngs(0))
    assert layer(jnp.ones((1, 2), jnp.int32)).dtype == jnp.float32


def test_wrong_feature_size_names_layer_shape_and_fix():
    layer = Linear(3, 4, rngs=Rngs(0))
    with pytest.raises(
        LayerInputError,
        match=r"Linear: expected input with last dimension 3 \(in_features\), got shape "
        r"\(5, 4\)(.|\n)*Fix: pass inputs of shape \(\.\.\., 3\), or build the layer as "
        r"Linear\(4, 4, \.\.\.\)",
    ):
        layer(jnp.ones((5, 4)))


def test_wrong_feature_size_names_attribute_path_in_model():
    class MLP(Module):
        def __init__(self, rngs):
            self.linear1 = Linear(3, 8, rngs=rngs)
            self.linear2 = Linear(8, 2, rngs=rngs)

        def __call__(self, x):
            return self.linear2(self.linear1(x))

    with pytest.raises(
        ValueError,
        match=r"^model\.linear1 \(Linear\): expected input with last dimension 3 "
        r"\(in_features\), got shape \(5, 4\)",
    ):
        MLP(Rngs(0))(jnp.ones((5, 4)))


def test_scalar_input_is_rejected():
    with pytest.raises(LayerInputError, match=r"at least 1 dimensions .* got shape \(\)"):
        Linear(3, 4, rngs=Rngs(0))(jnp.float32(1.0))


def test_non_array_input_is_rejected():
    with pytest.raises(LayerInputError, match=r"Linear: expected an array input, got list"):
        Linear(3, 4, rngs=Rngs(0))([1.0, 2.0, 3.0])


def test_precision_is_passed_to_the_product():
    layer = Linear(3, 2, precision=jax.lax.Precision.HIGHEST, rngs=Rngs(0))
    x = jnp.ones((1, 3))
    np.testing.assert_allclose(layer(x), x @ layer.kernel.value, rtol=1e-6)


def test_custom_dot_general_gets_the_contraction_and_precision():
    seen = []

    def dot_general(x, kernel, dims, precision=None, **kwargs):
        seen.append((dims, precision, kwargs))
        return jax.lax.dot_general(x, kernel, dims, precision=precision, **kwargs) * 2

    layer = Linear(3, 4, use_bias=False, dot_general=dot_general, precision="highest", rngs=Rngs(0))
    x = jnp.ones((2, 5, 3))
    np.testing.assert_allclose(layer(x), 2 * (x @ layer.kernel.value), rtol=1e-6)
    assert seen == [((((2,), (0,)), ((), ())), "highest", {})]
    typed = Linear(3, 4, preferred_element_type=jnp.float32, dtype=jnp.bfloat16, rngs=Rngs(0))
    assert typed(x).dtype == jnp.float32
