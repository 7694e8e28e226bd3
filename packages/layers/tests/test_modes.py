import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import Module
from nnx_layers import BatchNorm, Dropout, Linear
from nnx_variables import Rngs


class Model(Module):
    def __init__(self, rngs):
        self.linear = Linear(2, 4, rngs=rngs)
        self.bn = BatchNorm(4, rngs=rngs)
        self.dropout = Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.dropout(self.bn(self.linear(x)))


def test_eval_switches_dropout_off_and_batchnorm_to_running_stats():
    model = Model(Rngs(0))
    assert model.eval() is model
    assert model.dropout.deterministic is True and model.bn.use_running_average is True
    x = jnp.arange(6.0).reshape(3, 2)
    first, second = model(x), model(x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(model.bn.mean.value, np.zeros(4))


def test_train_switches_back():
    model = Model(Rngs(0)).eval()
    model.train()
    assert model.dropout.deterministic is False and model.bn.use_running_average is False
    x = jnp.arange(6.0).reshape(3, 2)
    model(x)
    assert bool(jnp.any(model.bn.mean.value != 0))
    assert not np.array_equal(model(x), model(x))  # new dropout mask each call


def test_eval_leaves_modules_without_the_flags_alone():
    model = Model(Rngs(0)).eval()
    assert not hasattr(model.linear, "deterministic")


def test_set_attributes_on_layers():
    model = Model(Rngs(0))
    model.set_attributes(deterministic=True)
    assert model.dropout.deterministic is True and model.bn.use_running_average is False
    model.set_attributes(Dropout, rate=0.25)
    assert model.dropout.rate == 0.25


def test_set_attributes_unknown_name_is_an_error_and_changes_nothing():
    model = Model(Rngs(0))
    with pytest.raises(
        AttributeError,
        match=r"found no module with attribute\(s\) 'determinstic'(.|\n)*"
        r"modules searched: BatchNorm, Dropout, Linear, Model(.|\n)*Fix: check the spelling",
    ):
        model.set_attributes(determinstic=True, use_running_average=True)
    assert model.bn.use_running_average is False


def test_eval_with_a_misspelled_extra_attribute_is_an_error():
    model = Model(Rngs(0))
    with pytest.raises(AttributeError, match=r"attribute\(s\) 'rat'"):
        model.eval(rat=0.3)
    assert model.dropout.deterministic is False
