"""WeightNorm and SpectralNorm: same state and outputs as flax.nnx 0.12.8, call after call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import state
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")

X2 = jax.random.normal(jax.random.key(1), (3, 4))
X4 = jax.random.normal(jax.random.key(2), (2, 5, 5, 2))


def pure(module, flax=False):
    s = fnnx.to_pure_dict(fnnx.state(module)) if flax else state(module).to_pure_dict()
    return jax.tree.map(
        lambda v: (
            np.asarray(jax.random.key_data(v))
            if jnp.issubdtype(v.dtype, jax.dtypes.prng_key)
            else np.asarray(v)
        ),
        s,
    )


def assert_same_state(a, b, atol=1e-6):
    sa, sb = pure(a), pure(b, flax=True)
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol), sa, sb)


def build(lib, wrapper, layer, **kwargs):
    rngs = Rngs(0) if lib is ours else fnnx.Rngs(0)
    inner = lib.Linear(4, 3, rngs=rngs) if layer == "linear" else lib.Conv(2, 3, (3, 3), rngs=rngs)
    outer = getattr(lib, wrapper)(inner, rngs=rngs, **kwargs)
    after = lib.Linear(3, 2, rngs=rngs)  # built after: the wrapper's key use must match
    return outer, after


WEIGHT_NORM = [
    ("linear", {}),
    ("linear", {"feature_axes": None}),
    ("linear", {"use_scale": False, "epsilon": 1e-3}),
    ("linear", {"variable_filter": ...}),
    ("conv", {}),
    ("conv", {"feature_axes": (-2, -1)}),
    ("conv", {"feature_axes": None, "scale_init": ours.initializers.constant(2.0)}),
    ("linear", {"dtype": jnp.bfloat16}),
]

SPECTRAL_NORM = [
    ("linear", {}),
    ("linear", {"n_steps": 3}),
    ("linear", {"update_stats": False}),
    ("linear", {"n_steps": 0}),
    ("conv", {}),
    ("conv", {"n_steps": 2, "epsilon": 1e-4}),
    ("linear", {"dtype": jnp.bfloat16}),
]


@pytest.mark.parametrize(
    ("wrapper", "layer", "kwargs"),
    [("WeightNorm", *case) for case in WEIGHT_NORM]
    + [("SpectralNorm", *case) for case in SPECTRAL_NORM],
)
def test_same_state_and_outputs(wrapper, layer, kwargs):
    if wrapper == "WeightNorm" and "scale_init" in kwargs:
        flax_kwargs = {**kwargs, "scale_init": lambda key, shape: jnp.full(shape, 2.0)}
    else:
        flax_kwargs = kwargs
    a, a_after = build(ours, wrapper, layer, **kwargs)
    b, b_after = build(fnnx, wrapper, layer, **flax_kwargs)
    assert_same_state(a, b)
    assert_same_state(a_after, b_after)
    x = X2 if layer == "linear" else X4
    bf16 = kwargs.get("dtype") == jnp.bfloat16
    for _ in range(3):  # the weights and the power iteration move on each call
        ya, yb = a(x), b(x)
        assert ya.dtype == yb.dtype
        np.testing.assert_allclose(
            np.asarray(ya, np.float32), np.asarray(yb, np.float32), atol=2e-2 if bf16 else 2e-5
        )
        assert_same_state(a, b, atol=1e-2 if bf16 else 1e-5)


@pytest.mark.parametrize("update_stats", [True, False])
def test_spectral_norm_train_eval_and_call_flag(update_stats):
    a, _ = build(ours, "SpectralNorm", "linear")
    b, _ = build(fnnx, "SpectralNorm", "linear")
    a.eval()
    b.eval()
    np.testing.assert_allclose(a(X2), b(X2), atol=2e-5)
    np.testing.assert_allclose(
        a(X2, update_stats=update_stats), b(X2, update_stats=update_stats), atol=2e-5
    )
    a.train()
    b.train()
    np.testing.assert_allclose(a(X2), b(X2), atol=2e-5)
    assert_same_state(a, b, atol=1e-5)
