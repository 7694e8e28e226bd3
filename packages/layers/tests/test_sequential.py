import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module, merge, split
from nnx_layers import Dropout, Linear, Sequential, relu
from nnx_variables import Rngs


def test_applies_layers_in_order():
    rngs = Rngs(0)
    first, second = Linear(2, 4, rngs=rngs), Linear(4, 3, rngs=rngs)
    model = Sequential(first, relu, second)
    x = jnp.ones((5, 2))
    np.testing.assert_allclose(model(x), second(relu(first(x))), rtol=1e-6)
    assert model.layers[0] is first and model.layers[1] is relu


def test_tuple_and_dict_outputs_are_spread():
    model = Sequential(lambda x: (x, 2 * x), lambda a, b: {"a": a, "b": b}, lambda a, b: a + b)
    assert float(model(jnp.float32(1.0))) == 3.0


def test_empty_sequential_passes_its_arguments_through_as_flax_0_12():
    """0.10 returned None; 0.12 returns the input, a tuple of several, or the keywords."""
    x = jnp.ones(2)
    assert Sequential()(x) is x
    assert Sequential()(x, 1) == (x, 1)
    assert Sequential()(a=1) == {"a": 1}
    assert Sequential()() is None


def test_rngs_go_to_every_layer_that_takes_them_and_to_no_other():
    rngs = Rngs(0)
    linear, dropout = Linear(2, 4, rngs=rngs), Dropout(0.5)
    x = jnp.ones((3, 2))
    y = Sequential(linear, relu, dropout, dropout)(x, rngs=Rngs(dropout=7))
    stream = Rngs(dropout=7)
    expected = dropout(dropout(relu(linear(x)), rngs=stream), rngs=stream)
    np.testing.assert_array_equal(y, expected)
    assert not np.array_equal(y, relu(linear(x)))


def test_rngs_are_not_passed_to_a_layer_whose_signature_cannot_be_read():
    # flax 0.12 raises from inspect.signature here; a builtin takes no rngs
    model = Sequential(lambda x: (x, 2 * x), max)
    assert model(1.0, rngs=Rngs(0)) == 2.0


def test_non_callable_layer_is_rejected_with_its_position():
    with pytest.raises(
        TypeError, match=r"every layer must be callable\.\n  - layers\[1\]: 3 is not callable"
    ):
        Sequential(relu, 3)


def test_survives_split_merge():
    model = Sequential(Linear(2, 3, rngs=Rngs(0)), relu)
    copy = merge(*split(model))
    x = jnp.ones((1, 2))
    np.testing.assert_array_equal(copy(x), model(x))


def test_errors_name_the_position_in_layers():
    class Model(Module):
        def __init__(self):
            self.body = Sequential(Linear(2, 3, rngs=Rngs(0)), relu, Linear(4, 1, rngs=Rngs(1)))

        def __call__(self, x):
            return self.body(x)

    with pytest.raises(
        LayerInputError,
        match=r"^model\.body\.layers\[2\] \(Linear\): expected input with last dimension 4 "
        r"\(in_features\), got shape \(5, 3\)",
    ):
        Model()(jnp.ones((5, 2)))
