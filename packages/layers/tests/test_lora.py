import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module, Variable, split
from nnx_layers import Linear, LoRA, LoRALinear, LoRAParam
from nnx_variables import Param, Rngs

# LoRA(3, 2, 4, rngs=Rngs(0)).lora_a as the reference implementation (flax 0.12.8) draws it.
REFERENCE_LORA_A = np.array(
    [[0.9682105, -0.89836884], [-0.7716569, -1.0727499], [-0.8716831, 0.6279533]],
    dtype=np.float32,
)


def test_reference_lora_a_and_zero_lora_b():
    lora = LoRA(3, 2, 4, rngs=Rngs(0))
    np.testing.assert_allclose(lora.lora_a.value, REFERENCE_LORA_A, rtol=1e-6)
    np.testing.assert_array_equal(lora.lora_b.value, np.zeros((2, 4)))
    assert type(lora.lora_a) is LoRAParam and isinstance(lora.lora_a, Param)


def test_standalone_call():
    lora = LoRA(3, 2, 4, rngs=Rngs(0))
    lora.lora_b.value = jnp.ones((2, 4))
    x = jnp.ones((5, 3))
    np.testing.assert_allclose(lora(x), x @ lora.lora_a.value @ lora.lora_b.value, rtol=1e-6)


def test_base_module_output_is_added():
    linear = Linear(3, 4, rngs=Rngs(0))
    wrapper = LoRA(3, 2, 4, base_module=linear, rngs=Rngs(1))
    assert wrapper.base_module is linear
    x = jnp.ones((2, 3))
    np.testing.assert_allclose(wrapper(x), linear(x), rtol=1e-6)  # lora_b starts at zero


def test_lora_linear_matches_linear_and_splits_lora_params():
    lora_linear = LoRALinear(3, 4, lora_rank=2, rngs=Rngs(0))
    linear = Linear(3, 4, rngs=Rngs(0))
    np.testing.assert_array_equal(lora_linear.kernel.value, linear.kernel.value)
    assert lora_linear.lora.lora_a.shape == (3, 2)
    x = jax.random.normal(jax.random.key(0), (2, 3))
    np.testing.assert_allclose(lora_linear(x), linear(x), rtol=1e-6)
    _, lora_state, rest = split(lora_linear, LoRAParam, ...)
    assert sorted(lora_state["lora"]) == ["lora_a", "lora_b"]
    assert sorted(rest) == ["bias", "kernel"]


def test_lora_linear_keys_follow_linear_keys():
    rngs = Rngs(0)
    LoRALinear(3, 4, lora_rank=2, rngs=rngs)
    assert int(rngs.default.count.value) == 4


def test_custom_param_type():
    class Adapter(Variable):
        pass

    lora = LoRA(2, 1, 2, lora_param_type=Adapter, rngs=Rngs(0))
    assert type(lora.lora_a) is Adapter


def test_wrong_input_size():
    with pytest.raises(
        LayerInputError,
        match=r"LoRA: expected input with last dimension 3 \(in_features\), got shape \(2, 5\)",
    ):
        LoRA(3, 2, 4, rngs=Rngs(0))(jnp.ones((2, 5)))


def test_lora_linear_wrong_input_names_its_own_type():
    with pytest.raises(LayerInputError, match=r"LoRALinear: (.|\n)*LoRALinear\(5, 4, \.\.\.\)"):
        LoRALinear(3, 4, lora_rank=2, rngs=Rngs(0))(jnp.ones((2, 5)))


def test_non_callable_base_module():
    with pytest.raises(TypeError, match=r"base_module must be callable, got 3(.|\n)*Fix"):
        LoRA(3, 2, 4, base_module=3, rngs=Rngs(0))


def test_surgery_wraps_an_existing_layer_in_a_model():
    class Model(Module):
        def __init__(self, rngs):
            self.linear = Linear(3, 4, rngs=rngs)

        def __call__(self, x):
            return self.linear(x)

    model = Model(Rngs(0))
    before = model(jnp.ones((1, 3)))
    model.linear = LoRA(3, 2, 4, base_module=model.linear, rngs=Rngs(1))
    np.testing.assert_allclose(model(jnp.ones((1, 3))), before, rtol=1e-6)
    with pytest.raises(LayerInputError, match=r"^model\.linear \(LoRA\)"):
        model(jnp.ones((1, 2)))


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


def test_promote_dtype():
    ones = jax.nn.initializers.ones
    lora = LoRA(4, 2, 3, promote_dtype=to_bfloat16, b_initializer=ones, rngs=Rngs(0))
    assert lora.promote_dtype is to_bfloat16
    y = lora(jnp.array([[0.5, -1.0, 2.0, 3.5], [1.5, 0.25, -2.0, 4.0]]))
    assert y.dtype == jnp.bfloat16
    flax = [[0.5, 0.5, 0.5], [-0.688, -0.688, -0.688]]  # flax 0.12.8, the same keywords
    np.testing.assert_allclose(np.asarray(y, np.float32), flax, atol=1e-3)


def test_lora_linear_lora_promote_dtype_reaches_its_lora():
    layer = LoRALinear(4, 3, lora_rank=2, lora_promote_dtype=to_bfloat16, rngs=Rngs(0))
    assert layer.lora.promote_dtype is to_bfloat16
    assert layer(jnp.ones((2, 4))).dtype == jnp.float32  # float32 + bfloat16, as in flax
