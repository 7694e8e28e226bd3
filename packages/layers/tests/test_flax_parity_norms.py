"""Normalisation layers: same constructor and seed, same state and outputs as flax.nnx 0.12.8."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import state
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")

X = jax.random.normal(jax.random.key(0), (2, 3, 4, 6)) * 2 + 5
MASK = jax.random.bernoulli(jax.random.key(1), 0.7, X.shape)

CASES = [
    ("RMSNorm", (6,), {}),
    ("RMSNorm", (6,), {"use_scale": False, "dtype": jnp.bfloat16}),
    ("GroupNorm", (6,), {"num_groups": 3}),
    ("GroupNorm", (6,), {"num_groups": None, "group_size": 3, "use_fast_variance": False}),
    ("InstanceNorm", (6,), {}),
    ("InstanceNorm", (6,), {"use_bias": False, "use_fast_variance": False}),
    ("LayerNorm", (6,), {"use_fast_variance": False}),
    ("BatchNorm", (6,), {"use_fast_variance": False}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_same_state_and_outputs(name, args, kwargs, masked):
    a = getattr(ours, name)(*args, rngs=Rngs(0), **kwargs)
    b = getattr(fnnx, name)(*args, rngs=fnnx.Rngs(0), **kwargs)
    extra = {"mask": MASK} if masked else {}
    ya, yb = a(X, **extra), b(X, **extra)
    assert ya.dtype == yb.dtype
    tol = 3e-2 if kwargs.get("dtype") == jnp.bfloat16 else 2e-5
    np.testing.assert_allclose(ya.astype(jnp.float32), yb.astype(jnp.float32), atol=tol)
    sa = jax.tree.map(np.asarray, state(a).to_pure_dict())
    sb = jax.tree.map(np.asarray, fnnx.to_pure_dict(fnnx.state(b)))
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-5), sa, sb)
