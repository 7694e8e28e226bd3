import jax
import jax.numpy as jnp
import pytest

import nnx_layers
from nnx_layers import initializers

ACTIVATIONS = [
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "identity", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "mish", "one_hot",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax", "softplus",
    "standardize", "swish",
]  # fmt: skip

INITIALIZERS = [
    "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform", "he_normal",
    "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform",
    "normal", "ones", "orthogonal", "truncated_normal", "uniform", "variance_scaling",
    "xavier_normal", "xavier_uniform", "zeros",
]  # fmt: skip


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_are_jax_nn_functions(name):
    assert getattr(nnx_layers, name) is getattr(jax.nn, name)


def test_tanh_is_jax_numpy_tanh():
    assert nnx_layers.tanh is jnp.tanh


@pytest.mark.parametrize("name", INITIALIZERS)
def test_initializers_namespace_is_jax_nn_initializers(name):
    assert getattr(initializers, name) is getattr(jax.nn.initializers, name)


def test_init_factories():
    key = jax.random.key(0)
    assert float(initializers.zeros_init()(key, (2,), jnp.float32).sum()) == 0.0
    assert float(initializers.ones_init()(key, (2,), jnp.float32).sum()) == 2.0
    assert float(initializers.constant(3.0)(key, (2,), jnp.float32).sum()) == 6.0


def test_initializer_is_flax_s_typing_alias():
    import typing
    from collections.abc import Callable

    # flax 0.12.8 and 0.10.7 print:
    # typing.Union[jax.nn.initializers.Initializer, collections.abc.Callable[..., typing.Any]]
    assert repr(nnx_layers.Initializer) == (
        "typing.Union[jax.nn.initializers.Initializer, collections.abc.Callable[..., typing.Any]]"
    )
    assert nnx_layers.Initializer is initializers.Initializer
    assert typing.get_args(nnx_layers.Initializer) == (
        jax.nn.initializers.Initializer,
        Callable[..., typing.Any],
    )
