"""Module.perturb: intermediate gradients through a zero Perturbation, as in flax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng
import nnx_transforms as nt
from nnx_variables import Param, Perturbation


class Model(ng.Module):
    def __init__(self):
        self.w1 = Param(jnp.array([[1.0, 2.0], [3.0, 4.0]]))
        self.w2 = Param(jnp.array([[1.0], [-1.0]]))

    def __call__(self, x):
        h = self.perturb("h", x @ self.w1.value)
        return (h @ self.w2.value).sum()


def test_the_perturbation_gradient_is_the_gradient_at_the_intermediate_value():
    model, x = Model(), jnp.ones((1, 2))
    model(x)  # the first call creates the zero Perturbation
    assert isinstance(model.h, Perturbation)
    np.testing.assert_array_equal(model.h.value, np.zeros((1, 2)))
    grads = nt.grad(lambda m: m(x), argnums=nt.DiffState(0, Perturbation))(model)
    expected = jax.grad(lambda h: (h @ model.w2.value).sum())(x @ model.w1.value)
    np.testing.assert_allclose(grads["h"].value, expected)
    assert float(model(x)) == float((x @ model.w1.value @ model.w2.value).sum())


def test_perturb_refuses_an_attribute_of_another_kind():
    model = Model()
    model.h = Param(jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"perturb\('h', ...\) found attribute 'h'"):
        model(jnp.ones((1, 2)))
    assert isinstance(model.perturb("p", jnp.ones(1), "Param") * 0, jax.Array)
