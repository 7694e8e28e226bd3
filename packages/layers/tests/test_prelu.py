"""PReLU against the values flax 0.12.8 printed for the same arguments."""

import inspect
from types import MappingProxyType

import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import state
from nnx_layers import PReLU
from nnx_variables import Param

X = jnp.array([-2.0, -0.5, 0.0, 1.5])


def test_default_slope_is_a_float32_scalar_param():
    layer = PReLU()
    [(path, leaf)] = state(layer).flat_dict().items()
    # flax 0.12.8: State({'negative_slope': Param(value=Array(0.01, dtype=float32))})
    assert path == ("negative_slope",)
    assert leaf.type is Param
    assert leaf.value.shape == ()
    assert leaf.value.dtype == jnp.float32
    np.testing.assert_array_equal(leaf.value, np.float32(0.01))


def test_outputs_match_flax():
    # flax 0.12.8: [-0.02  -0.005  0.     1.5  ]
    np.testing.assert_allclose(PReLU()(X), [-0.02, -0.005, 0.0, 1.5], rtol=1e-6)


def test_param_dtype_stores_the_slope_and_the_input_dtype_computes():
    layer = PReLU(negative_slope_init=0.1, param_dtype=jnp.bfloat16)
    # flax 0.12.8: Param(value=Array(0.100098, dtype=bfloat16))
    assert layer.negative_slope.value.dtype == jnp.bfloat16
    np.testing.assert_allclose(float(layer.negative_slope.value), 0.10009765625)
    y = layer(X)
    # flax 0.12.8: [-0.20019531 -0.05004883  0.  1.5] float32
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, [-0.20019531, -0.05004883, 0.0, 1.5], rtol=1e-6)


def test_without_dtype_the_output_has_the_input_dtype():
    # flax 0.12.8: bfloat16 in -> bfloat16 out; int32 in -> int32 out (the slope cast to 0)
    assert PReLU()(X.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    y = PReLU()(jnp.array([1, -2]))
    assert y.dtype == jnp.int32
    assert y.tolist() == [1, 0]


def test_dtype_promotes_inputs_and_slope():
    layer = PReLU(0.25, dtype=jnp.bfloat16)
    # flax 0.12.8: [-0.5 -0.125 0 1.5] bfloat16; int input -> bfloat16
    y = layer(X)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(y, np.float32), [-0.5, -0.125, 0.0, 1.5])
    assert layer(jnp.array([1, -2])).dtype == jnp.bfloat16
    assert layer.negative_slope.value.dtype == jnp.float32


def test_metadata_lands_on_the_param():
    layer = PReLU(negative_slope_metadata={"note": "slope"})
    assert layer.negative_slope.note == "slope"


def test_metadata_must_be_a_mapping():
    with pytest.raises(
        TypeError,
        match=r"(?s)nnx\.PReLU: metadata keywords.*negative_slope_metadata: .*"
        r"Fix: nnx\.PReLU\(\.\.\., negative_slope_metadata=",
    ):
        PReLU(negative_slope_metadata=("a",))  # type: ignore[arg-type]


def test_signature_matches_flax():
    # flax 0.12.8: (negative_slope_init=0.01, *, dtype=None, param_dtype=float32,
    #               promote_dtype=..., negative_slope_metadata=MappingProxyType({}))
    params = inspect.signature(PReLU).parameters
    assert list(params) == [
        "negative_slope_init",
        "dtype",
        "param_dtype",
        "promote_dtype",
        "negative_slope_metadata",
    ]
    assert params["negative_slope_init"].default == 0.01
    assert params["dtype"].default is None
    assert params["param_dtype"].default is jnp.float32
    assert params["negative_slope_metadata"].default == MappingProxyType({})
    for name in list(params)[1:]:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
