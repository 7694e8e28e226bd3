"""nnx.capture: intermediates and perturbations handed back, the model left clean."""

import jax.numpy as jnp
import numpy as np

import nnx_graph as ng
import nnx_transforms as nt
from nnx_variables import Intermediate, Param, Perturbation


class Inner(ng.Module):
    def __init__(self):
        self.w = Param(jnp.array([[1.0, 2.0, 3.0]]))

    def __call__(self, x):
        return x @ self.w.value


class Model(ng.Module):
    def __init__(self):
        self.inner = Inner()

    def __call__(self, x):
        y = self.inner(x)
        self.sow(Intermediate, "y", y)
        return self.perturb("z", y).sum()


def test_capture_returns_a_state_per_kind_and_pops_them():
    model, x = Model(), jnp.ones((1, 1))
    out, sown, perturbations = ng.capture(model, Intermediate, Perturbation)(x)
    assert float(out) == 6.0
    assert sown["y"].value[0].shape == (1, 3) and set(perturbations) == {"z"}
    assert not hasattr(model, "y") and not hasattr(model, "z")
    fn_form = ng.capture(lambda m, x: m(x), Intermediate)
    assert set(fn_form(model, x)[1]) == {"y"}


def test_init_seeds_perturbations_for_intermediate_gradients():
    model, x = Model(), jnp.ones((1, 1))
    _, perturbations = ng.capture(model, Perturbation)(x)

    def loss(model, perturbations):
        out, _ = ng.capture(model, Perturbation, init=perturbations)(x)
        return out

    grads = nt.grad(loss, argnums=1)(model, perturbations)
    np.testing.assert_array_equal(grads["z"].value, np.ones((1, 3)))


def test_method_outputs_sows_every_call():
    model = Model()
    _, sown = ng.capture(model, Intermediate, method_outputs=Intermediate)(jnp.ones((1, 1)))
    assert set(sown.flat_dict()) == {("__call__",), ("inner", "__call__"), ("y",)}
    decorated = ng.capture(Intermediate)(model)
    assert set(decorated(jnp.ones((1, 1)))[1]) == {"y"}


def test_capture_without_a_module_names_what_it_got_and_the_fix():
    import pytest

    with pytest.raises(TypeError, match=r"(?s)cannot tell which module.*Fix: nnx.capture\(model"):
        ng.capture(lambda x: x, Intermediate)(jnp.ones(1))
