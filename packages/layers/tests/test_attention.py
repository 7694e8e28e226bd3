"""Attention against a pure jax.numpy formula; decoding against the full causal pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, state, view
from nnx_layers import (
    Einsum,
    LinearGeneral,
    MultiHeadAttention,
    combine_masks,
    dot_product_attention,
    dot_product_attention_weights,
    make_attention_mask,
    make_causal_mask,
)
from nnx_variables import Cache, Intermediate, Rngs


def reference_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d)) v per head, written out with numpy."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    group = q.shape[-2] // k.shape[-2]
    k, v = np.repeat(k, group, axis=-2), np.repeat(v, group, axis=-2)
    logits = np.einsum("...qhd,...khd->...hqk", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(np.asarray(mask, bool), logits, -1e30)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("...hqk,...khd->...qhd", weights, v), weights


def qkv(batch=(2,), t=5, heads=4, kv_heads=4, d=8):
    ks = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(ks[0], (*batch, t, heads, d))
    k = jax.random.normal(ks[1], (*batch, t, kv_heads, d))
    v = jax.random.normal(ks[2], (*batch, t, kv_heads, d))
    return q, k, v


@pytest.mark.parametrize(("batch", "kv_heads"), [((2,), 4), ((2, 3), 2), ((), 4)])
def test_dot_product_attention_matches_formula(batch, kv_heads):
    q, k, v = qkv(batch, kv_heads=kv_heads)
    mask = make_causal_mask(jnp.ones((*batch, 5)))
    expected, weights = reference_attention(q, k, v, mask)
    np.testing.assert_allclose(dot_product_attention(q, k, v, mask=mask), expected, atol=2e-5)
    np.testing.assert_allclose(dot_product_attention(q, k, v, is_causal=True), expected, atol=2e-5)
    got = dot_product_attention_weights(q, k, mask=mask)
    np.testing.assert_allclose(got, weights, atol=2e-5)


def test_weights_path_with_dropout_keeps_expectation_shape():
    q, k, v = qkv()
    out = dot_product_attention(
        q, k, v, dropout_rate=0.5, dropout_rng=jax.random.key(1), deterministic=False
    )
    assert out.shape == q.shape
    weights = dot_product_attention_weights(
        q, k, dropout_rate=0.5, dropout_rng=jax.random.key(1), deterministic=False
    )
    kept = np.asarray(weights != 0)
    assert kept.all(axis=(0, 1)).sum() == kept[0, 0].sum()  # one mask broadcast over heads
    with pytest.raises(ValueError, match=r"dropout needs a key(.|\n)*Fix: pass dropout_rng"):
        dot_product_attention_weights(q, k, dropout_rate=0.5)


def test_masks():
    padding = make_attention_mask(jnp.array([[1, 1, 0]]), jnp.array([[1, 0, 1]]))
    assert padding.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(padding[0, 0], np.outer([1, 1, 0], [1, 0, 1]))
    causal = make_causal_mask(jnp.ones((2, 3)), extra_batch_dims=1)
    assert causal.shape == (1, 2, 1, 3, 3)
    np.testing.assert_array_equal(causal[0, 0, 0], np.tril(np.ones((3, 3))))
    both = combine_masks(padding, make_causal_mask(jnp.ones((1, 3))), dtype=jnp.bool_)
    np.testing.assert_array_equal(both[0, 0], np.tril(np.outer([1, 1, 0], [1, 0, 1])))
    assert combine_masks(None, None) is None
    with pytest.raises(ValueError, match=r"same rank(.|\n)*Fix"):
        combine_masks(jnp.ones(3), jnp.ones((1, 3)))


def test_mha_matches_formula_on_its_own_parameters():
    mha = MultiHeadAttention(4, 16, qkv_features=8, out_features=6, decode=False, rngs=Rngs(0))
    assert mha.query.kernel.shape == (16, 4, 2) and mha.out.kernel.shape == (4, 2, 6)
    x = jax.random.normal(jax.random.key(2), (2, 5, 16))
    mask = make_causal_mask(jnp.ones((2, 5)))
    p = jax.tree.map(np.asarray, state(mha).to_pure_dict())
    proj = {
        n: np.einsum("btf,fhd->bthd", x, p[n]["kernel"]) + p[n]["bias"]
        for n in ["query", "key", "value"]
    }
    attended, _ = reference_attention(proj["query"], proj["key"], proj["value"], mask)
    expected = np.einsum("bthd,hdo->bto", attended, p["out"]["kernel"]) + p["out"]["bias"]
    np.testing.assert_allclose(mha(x, mask=mask), expected, atol=1e-4)


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_decode_reproduces_the_causal_pass_token_by_token(kv_heads):
    mha = MultiHeadAttention(4, 16, num_kv_heads=kv_heads, normalize_qk=True, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(3), (2, 6, 16))
    full = mha(x, mask=make_causal_mask(jnp.ones((2, 6))), decode=False)
    mha.init_cache(x.shape)
    assert isinstance(mha.cached_key, Cache) and mha.cached_key.shape == (2, 6, kv_heads or 4, 4)
    steps = [mha(x[:, i : i + 1], decode=True) for i in range(6)]
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-5)
    assert int(mha.cache_index.value) == 6


def test_decode_errors_name_the_fix():
    mha = MultiHeadAttention(2, 8, rngs=Rngs(0))
    with pytest.raises(LayerInputError, match=r"never initialised(.|\n)*init_cache"):
        mha(jnp.ones((1, 1, 8)), decode=True)
    mha.init_cache((1, 4, 8))
    with pytest.raises(LayerInputError, match=r"one position at a time(.|\n)*\(1, 1, 8\)"):
        mha(jnp.ones((1, 2, 8)), decode=True)
    with pytest.raises(LayerInputError, match=r"last dimension 8 \(in_features\)"):
        mha(jnp.ones((1, 2, 5)))


def test_sow_weights_and_attention_fn():
    mha = MultiHeadAttention(2, 8, decode=False, rngs=Rngs(0))
    x = jnp.ones((1, 3, 8))
    plain = mha(x)
    np.testing.assert_allclose(mha(x, sow_weights=True), plain, atol=1e-6)
    assert isinstance(mha.attention_weights, Intermediate)
    assert mha.attention_weights.value[0].shape == (1, 2, 3, 3)
    calls = []

    def recording(q, k, v, **kwargs):
        calls.append(kwargs["mask"])
        return dot_product_attention(q, k, v, **kwargs)

    mha.attention_fn = recording
    np.testing.assert_allclose(mha(x), plain, atol=1e-6)
    assert calls == [None]


def test_dropout_follows_train_and_eval():
    mha = MultiHeadAttention(2, 8, dropout_rate=0.5, decode=False, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(0), (1, 4, 8))
    with pytest.raises(LayerInputError, match=r"whether to drop(.|\n)*model.train"):
        mha(x)
    mha.eval()
    np.testing.assert_allclose(mha(x), mha(x))
    mha.train()
    a, b = mha(x), mha(x)
    assert not np.allclose(a, b)
    no_bias = MultiHeadAttention(2, 8, use_bias=False, decode=False, rngs=Rngs(0))
    assert no_bias.query.bias is None and no_bias.out.bias is None


def test_bf16_compute_with_float32_params():
    mha = MultiHeadAttention(2, 8, dtype=jnp.bfloat16, decode=False, rngs=Rngs(0))
    ref = MultiHeadAttention(2, 8, decode=False, rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 4, 8))
    y = mha(x)
    assert y.dtype == jnp.bfloat16 and mha.query.kernel.value.dtype == jnp.float32
    np.testing.assert_allclose(y.astype(jnp.float32), ref(x), atol=5e-2)
    mha.init_cache(x.shape, jnp.bfloat16)
    assert mha(x[:, :1], decode=True).dtype == jnp.bfloat16


def test_linear_general_matches_tensordot():
    layer = LinearGeneral((3, 4), (2, 5), axis=(-2, -1), rngs=Rngs(0))
    assert layer.kernel.shape == (3, 4, 2, 5) and layer.bias.shape == (2, 5)
    x = jax.random.normal(jax.random.key(1), (6, 3, 4))
    expected = np.tensordot(x, layer.kernel.value, axes=2) + np.asarray(layer.bias.value)
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    batched = LinearGeneral(3, 2, batch_axis={0: 6}, rngs=Rngs(0))
    assert batched.kernel.shape == (6, 3, 2)
    y = jax.random.normal(jax.random.key(1), (6, 7, 3))
    expected = np.einsum("btf,bfo->bto", y, batched.kernel.value) + batched.bias.value[:, None]
    np.testing.assert_allclose(batched(y), expected, atol=1e-5)
    with pytest.raises(LayerInputError, match=r"axes \(-2, -1\) of sizes \(3, 4\)"):
        layer(jnp.ones((3, 5)))
    with pytest.raises(ValueError, match=r"same length(.|\n)*Fix"):
        LinearGeneral((3, 4), 2, rngs=Rngs(0))


def test_linear_general_kernel_drawn_with_flat_fan_in():
    layer = LinearGeneral((3, 4), 2, axis=(-2, -1), rngs=Rngs(params=5))
    key = jax.random.fold_in(jax.random.key(5), 0)
    flat = jax.nn.initializers.lecun_normal()(key, (12, 2), jnp.float32)
    np.testing.assert_array_equal(layer.kernel.value, flat.reshape(3, 4, 2))


def test_einsum_with_bias_and_ellipsis():
    layer = Einsum(
        "...d,dnh->...nh", (4, 2, 3), (2, 3), bias_init=jax.nn.initializers.ones, rngs=Rngs(0)
    )
    x = jax.random.normal(jax.random.key(1), (5, 7, 4))
    expected = np.einsum("btd,dnh->btnh", x, layer.kernel.value) + 1.0
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    y = layer(x.astype(jnp.bfloat16))
    assert y.dtype == jnp.float32  # promoted with the float32 params, as flax does
    assert (
        Einsum("ab,bc->ac", (4, 3), dtype=jnp.bfloat16, rngs=Rngs(0))(jnp.ones((2, 4))).dtype
        == jnp.bfloat16
    )
    with pytest.raises(ValueError, match=r"two operands(.|\n)*Fix"):
        Einsum("ab,bc", (4, 3), rngs=Rngs(0))


def test_set_view_switches_modes_and_creates_the_decoding_cache():
    mha = MultiHeadAttention(2, 8, decode=False, dtype=jnp.bfloat16, rngs=Rngs(0))
    decoding = view(mha, decode=True, deterministic=True, batch_size=(2, 3), max_length=5)
    assert decoding.decode and decoding.deterministic and not mha.decode
    assert decoding.cached_key.shape == (2, 3, 5, 2, 4) and mha.cached_key is None
    assert decoding.cached_value.dtype == jnp.bfloat16 and int(decoding.cache_index[...]) == 0
    assert decoding.query.kernel is mha.query.kernel  # the view shares the parameters
    only_mode = view(mha, decode=True)  # as flax: no sizes, no cache (init_cache later)
    assert only_mode.decode and only_mode.cached_key is None
    kept = view(decoding, decode=True, batch_size=1, max_length=2)  # an existing cache stays
    assert kept.cached_key.shape == (2, 3, 5, 2, 4)


def test_set_view_with_one_size_names_the_other_and_the_fix():
    mha = MultiHeadAttention(2, 8, decode=False, rngs=Rngs(0))
    with pytest.raises(
        TypeError, match=r"(?s)'max_length' must be given with batch_size.*Fix: nnx"
    ):
        mha.set_view(decode=True, batch_size=1)
    assert mha.cached_key is None


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


def small_qkv():
    return [jax.random.normal(jax.random.key(i), (1, 3, 2, 4)) for i in (1, 2, 3)]


def test_dot_product_attention_promote_dtype_as_flax():
    q, k, v = small_qkv()
    y = dot_product_attention(q, k, v, promote_dtype=to_bfloat16)
    assert y.dtype == jnp.bfloat16
    flax = [[-0.668, 0.21, 0.59, -0.034], [-0.516, -0.547, 1.414, -1.07]]  # flax 0.12.8, y[0, 0]
    np.testing.assert_allclose(np.asarray(y[0, 0], np.float32), flax, atol=1e-2)


def test_dot_product_attention_promote_dtype_comes_before_is_causal_positionally():
    q, k, v = small_qkv()
    # flax 0.12.8's order: ..., precision, module, promote_dtype, is_causal
    y = dot_product_attention(q, k, v, None, None, True, None, 0.0, False, None, None, None,
                              to_bfloat16, True)  # fmt: skip
    assert y.dtype == jnp.bfloat16
    flax = [[-1.445, 1.539, 0.383, 1.969], [-0.586, 0.209, -1.242, -0.301]]  # flax 0.12.8
    np.testing.assert_allclose(np.asarray(y[0, 0], np.float32), flax, atol=1e-2)


def test_promote_dtype_reaches_the_weights_path():
    seen = []

    def record(arrays, /, *, dtype=None, inexact=True):
        seen.append((len(arrays), dtype))
        return arrays

    q, k, v = small_qkv()
    dot_product_attention(q, k, v, dropout_rate=0.5, dropout_rng=jax.random.key(0),
                          dtype=jnp.float16, promote_dtype=record)  # fmt: skip
    # As in flax 0.12.8: (q, k, v) in the requested dtype, then (q, k) in the promoted one.
    assert seen == [(3, jnp.float16), (2, jnp.float32)]
    seen.clear()
    dot_product_attention_weights(q, k, dtype=jnp.float16, promote_dtype=record)
    assert seen == [(2, jnp.float16)]
