"""Same constructor, same seed: same parameters and outputs as flax.nnx 0.12.8."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_layers as ours
from nnx_graph import state, view
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")


def assert_same_state(a, b, atol=1e-6):
    sa = jax.tree.map(np.asarray, state(a).to_pure_dict())
    sb = jax.tree.map(np.asarray, fnnx.to_pure_dict(fnnx.state(b)))
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol), sa, sb)


X = jax.random.normal(jax.random.key(7), (2, 5, 16))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"qkv_features": 8, "out_features": 12, "num_kv_heads": 2},
        {"normalize_qk": True, "use_bias": False},
        {"dtype": jnp.bfloat16},
    ],
)
def test_multihead_attention(kwargs):
    a = ours.MultiHeadAttention(4, 16, decode=False, rngs=Rngs(0), **kwargs)
    b = fnnx.MultiHeadAttention(4, 16, decode=False, rngs=fnnx.Rngs(0), **kwargs)
    assert_same_state(a, b)
    mask = ours.make_causal_mask(jnp.ones((2, 5)))
    ya, yb = a(X, mask=mask), b(X, mask=mask)
    assert ya.dtype == yb.dtype
    tol = 2e-2 if kwargs.get("dtype") == jnp.bfloat16 else 1e-5
    np.testing.assert_allclose(ya.astype(jnp.float32), yb.astype(jnp.float32), atol=tol)


@pytest.mark.filterwarnings("ignore:Using .Module.sow:DeprecationWarning")  # flax 0.12 only
def test_multihead_attention_dropout_and_sow_weights():
    a = ours.MultiHeadAttention(
        4, 16, dropout_rate=0.3, decode=False, deterministic=False, rngs=Rngs(0)
    )
    b = fnnx.MultiHeadAttention(
        4, 16, dropout_rate=0.3, decode=False, deterministic=False, rngs=fnnx.Rngs(0)
    )
    np.testing.assert_allclose(a(X, sow_weights=True), b(X, sow_weights=True), atol=1e-5)
    np.testing.assert_allclose(
        a.attention_weights.value[0], b.attention_weights.get_value()[0], atol=1e-6
    )


def test_decode_matches_flax():
    a = ours.MultiHeadAttention(4, 16, decode=True, rngs=Rngs(0))
    b = fnnx.MultiHeadAttention(4, 16, decode=True, rngs=fnnx.Rngs(0))
    a.init_cache(X.shape)
    b.init_cache(X.shape)
    for i in range(3):
        np.testing.assert_allclose(a(X[:, i : i + 1]), b(X[:, i : i + 1]), atol=1e-5)
    np.testing.assert_allclose(a.cached_key.value, b.cached_key[...], atol=1e-6)


def test_attention_functions_and_masks():
    q, k, v = jax.random.normal(jax.random.key(0), (3, 2, 5, 4, 8))
    bias = jax.random.normal(jax.random.key(1), (2, 4, 5, 5))
    mask = fnnx.make_attention_mask(
        jnp.array([[1, 1, 1, 0, 0]] * 2), jnp.array([[1, 1, 0, 1, 0]] * 2)
    )
    np.testing.assert_array_equal(
        ours.make_attention_mask(
            jnp.array([[1, 1, 1, 0, 0]] * 2), jnp.array([[1, 1, 0, 1, 0]] * 2)
        ),
        mask,
    )
    np.testing.assert_array_equal(
        ours.make_causal_mask(q[..., 0, 0]), fnnx.make_causal_mask(q[..., 0, 0])
    )
    for f in ("dot_product_attention",):
        np.testing.assert_allclose(
            getattr(ours, f)(q, k, v, bias=bias, mask=mask),
            getattr(fnnx, f)(q, k, v, bias=bias, mask=mask),
            atol=1e-5,
        )
    np.testing.assert_allclose(
        ours.dot_product_attention_weights(q, k, bias=bias, mask=mask, is_causal=True),
        fnnx.nn.attention.dot_product_attention_weights(q, k, bias=bias, mask=mask, is_causal=True),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((16, (4, 2)), {}),
        (((4, 2), 6), {"axis": (-2, -1)}),
        ((3, 5), {"batch_axis": {0: 2}}),
        ((16, 6), {"dtype": jnp.bfloat16, "use_bias": False}),
    ],
)
def test_linear_general(args, kwargs):
    a = ours.LinearGeneral(*args, rngs=Rngs(0), **kwargs)
    b = fnnx.LinearGeneral(*args, rngs=fnnx.Rngs(0), **kwargs)
    assert_same_state(a, b)
    shape = {16: (2, 5, 16), (4, 2): (2, 5, 4, 2), 3: (2, 5, 3)}[args[0]]
    x = jax.random.normal(jax.random.key(3), shape)
    np.testing.assert_allclose(a(x).astype(jnp.float32), b(x).astype(jnp.float32), atol=1e-5)


def test_einsum():
    a = ours.Einsum("btd,dnh->btnh", (16, 2, 3), (2, 3), rngs=Rngs(0))
    b = fnnx.Einsum("btd,dnh->btnh", (16, 2, 3), (2, 3), rngs=fnnx.Rngs(0))
    assert_same_state(a, b)
    np.testing.assert_allclose(a(X), b(X), atol=1e-5)


@pytest.mark.parametrize("name", ["MultiHeadAttention", "BatchNorm"])
def test_set_view_takes_flax_keywords(name):
    def keywords(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.set_view).parameters.values()]

    assert keywords(getattr(ours, name)) == keywords(getattr(fnnx, name))


def test_view_of_attention_in_eval_mode_gives_flax_outputs():
    a = ours.MultiHeadAttention(2, 8, dropout_rate=0.5, decode=False, rngs=Rngs(0))
    b = fnnx.MultiHeadAttention(2, 8, dropout_rate=0.5, decode=False, rngs=fnnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 3, 8))
    va, vb = view(a, deterministic=True), fnnx.view(b, deterministic=True)
    np.testing.assert_allclose(va(x), vb(x), atol=1e-5)
    assert a.deterministic is None and b.deterministic is None
