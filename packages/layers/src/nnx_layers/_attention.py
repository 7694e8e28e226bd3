"""Dot-product attention, its masks, and MultiHeadAttention with a decoding cache.

Arrays follow the ``(..., length, heads, head_dim)`` layout; masks and attention weights
are ``(..., heads, q_length, kv_length)``. Fewer key/value heads than query heads
(grouped-query attention) is allowed when they divide the query heads.

Without dropout and without sowing the weights, ``dot_product_attention`` is
``jax.nn.dot_product_attention`` (one fused XLA computation, and the path whose numbers
flax.nnx reproduces); otherwise the weights are materialised so that they can be dropped
out or stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_variables import Intermediate


def make_attention_mask(
    query_input: jax.Array,
    key_input: jax.Array,
    pairwise_fn: Callable[..., Any] = jnp.multiply,
    extra_batch_dims: int = 0,
    dtype: Any = jnp.float32,
) -> jax.Array:
    """A ``(..., 1, q_len, kv_len)`` mask from per-position query and key values.

    ``pairwise_fn(query_input[..., q, None], key_input[..., None, k])`` decides each
    entry: with the default product, padding positions marked 0 are masked out.

    >>> import jax.numpy as jnp
    >>> make_attention_mask(jnp.array([1, 1]), jnp.array([1, 0])).tolist()
    [[[1.0, 0.0], [1.0, 0.0]]]
    """
    mask = pairwise_fn(jnp.expand_dims(query_input, -1), jnp.expand_dims(key_input, -2))
    mask = jnp.expand_dims(mask, -3)
    mask = jnp.expand_dims(mask, tuple(range(extra_batch_dims)))
    return jnp.asarray(mask, dtype)


def make_causal_mask(
    x: jax.Array, extra_batch_dims: int = 0, dtype: Any = jnp.float32
) -> jax.Array:
    """The mask letting position ``q`` attend to positions ``k <= q`` of ``x``'s last axis.

    >>> import jax.numpy as jnp
    >>> make_causal_mask(jnp.ones((1, 3))).astype(int).tolist()
    [[[[1, 0, 0], [1, 1, 0], [1, 1, 1]]]]
    """
    positions = jnp.broadcast_to(jnp.arange(x.shape[-1], dtype=jnp.int32), x.shape)
    return make_attention_mask(
        positions, positions, jnp.greater_equal, extra_batch_dims=extra_batch_dims, dtype=dtype
    )


def combine_masks(*masks: jax.Array | None, dtype: Any = jnp.float32) -> jax.Array | None:
    """The logical AND of the masks given (``None`` entries skipped; all ``None``: None).

    >>> import jax.numpy as jnp
    >>> combine_masks(jnp.array([1, 1, 0]), None, jnp.array([0, 1, 1])).tolist()
    [0.0, 1.0, 0.0]
    """
    present = [m for m in masks if m is not None]
    if not present:
        return None
    ranks = tuple(jnp.ndim(m) for m in present)
    if len(set(ranks)) > 1:
        raise ValueError(
            f"nnx.combine_masks: masks must have the same rank, got ranks {ranks}.\n"
            "Fix: expand the smaller masks, e.g. mask[:, None, None, :]"
        )
    mask = present[0]
    for other in present[1:]:
        mask = jnp.logical_and(mask, other)
    return jnp.asarray(mask, dtype)


def _check_qkv(query: jax.Array, key: jax.Array, value: jax.Array | None = None) -> None:
    arrays = [a for a in (query, key, value) if a is not None]
    shapes = ", ".join(str(a.shape) for a in arrays)
    if len({a.ndim for a in arrays}) > 1 or len({a.shape[:-3] for a in arrays}) > 1:
        raise ValueError(
            f"nnx attention: query, key (and value) must have the same rank and batch "
            f"axes, got shapes {shapes}.\nFix: pass arrays shaped (batch..., length, heads, "
            "head_dim)"
        )
    if query.shape[-1] != key.shape[-1] or query.shape[-2] % key.shape[-2]:
        raise ValueError(
            f"nnx attention: query and key must share head_dim, and key heads must divide "
            f"query heads; got shapes {shapes}.\nFix: project both to the same head_dim"
        )
    if value is not None and key.shape[-3:-1] != value.shape[-3:-1]:
        raise ValueError(
            f"nnx attention: key and value must have the same length and heads, got shapes "
            f"{shapes}.\nFix: pass a value for every key position"
        )


def dot_product_attention_weights(
    query: jax.Array,
    key: jax.Array,
    bias: jax.Array | None = None,
    mask: jax.Array | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: jax.Array | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Any = None,
    precision: Any = None,
    module: Module | None = None,
    promote_dtype: PromoteDtype = default_promote_dtype,
    is_causal: bool = False,
) -> jax.Array:
    """``softmax(query . key / sqrt(head_dim) + bias)`` with masked entries excluded.

    Returns weights of shape ``(..., heads, q_length, kv_length)``. ``module`` given, the
    weights are sown on it as the ``Intermediate`` ``attention_weights``.
    ``promote_dtype`` casts ``(query, key)`` to ``dtype`` (or their common type).

    >>> import jax.numpy as jnp
    >>> q = k = jnp.ones((1, 2, 1, 4))   # batch, length, heads, head_dim
    >>> dot_product_attention_weights(q, k).tolist()
    [[[[0.5, 0.5], [0.5, 0.5]]]]
    """
    query, key = promote_dtype((query, key), dtype=dtype)
    dtype = query.dtype
    _check_qkv(query, key)
    heads, kv_heads = query.shape[-2], key.shape[-2]
    group = heads // kv_heads
    query = query / jnp.sqrt(query.shape[-1]).astype(dtype)
    # Grouped-query attention: each key head serves `group` consecutive query heads.
    grouped = jnp.reshape(query, (*query.shape[:-2], kv_heads, group, query.shape[-1]))
    weights = jnp.einsum("...qhgd,...khd->...hgqk", grouped, key, precision=precision)
    weights = jnp.reshape(weights, (*weights.shape[:-4], heads, *weights.shape[-2:]))
    if bias is not None:
        weights = weights + bias
    masks = [] if mask is None else [mask]
    if is_causal:
        causal = jnp.tril(jnp.ones(weights.shape[-2:], dtype))
        masks.append(jnp.broadcast_to(causal, weights.shape if mask is None else mask.shape))
    combined = combine_masks(*masks, dtype=dtype)
    if combined is not None:
        weights = jnp.where(combined, weights, jnp.finfo(dtype).min)  # type: ignore[no-untyped-call]
    weights = jax.nn.softmax(weights).astype(dtype)
    if module is not None:
        module.sow(Intermediate, "attention_weights", weights)
    if not deterministic and dropout_rate > 0.0:
        if dropout_rng is None:
            raise ValueError(
                "nnx.dot_product_attention_weights: dropout needs a key.\n"
                "Fix: pass dropout_rng=rngs.dropout(), or deterministic=True"
            )
        keep_prob = 1.0 - dropout_rate
        shape = weights.shape
        if broadcast_dropout:  # one mask shared by the batch and the heads
            shape = (1,) * (weights.ndim - 2) + weights.shape[-2:]
        keep = jax.random.bernoulli(dropout_rng, keep_prob, shape)
        keep = jnp.broadcast_to(keep, weights.shape)
        weights = weights * (keep.astype(dtype) / jnp.asarray(keep_prob, dtype))
    return weights


def dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    bias: jax.Array | None = None,
    mask: jax.Array | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: jax.Array | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Any = None,
    precision: Any = None,
    module: Module | None = None,
    promote_dtype: PromoteDtype = default_promote_dtype,
    is_causal: bool = False,
) -> jax.Array:
    """Attention over ``(..., length, heads, head_dim)`` arrays: weights applied to ``value``.

    ``promote_dtype`` casts ``(query, key, value)`` to ``dtype`` (or their common type);
    like ``is_causal``, it follows ``module`` positionally, in flax's order.

    >>> import jax.numpy as jnp
    >>> q = k = jnp.ones((1, 2, 1, 4))
    >>> v = jnp.arange(8.0).reshape(1, 2, 1, 4)
    >>> dot_product_attention(q, k, v).tolist()[0][0]
    [[2.0, 3.0, 4.0, 5.0]]
    """
    query, key, value = promote_dtype((query, key, value), dtype=dtype)
    _check_qkv(query, key, value)
    if dropout_rate == 0.0 and module is None:
        return _fused(query, key, value, bias, mask, is_causal)
    weights = dot_product_attention_weights(
        query,
        key,
        bias,
        mask,
        broadcast_dropout,
        dropout_rng,
        dropout_rate,
        deterministic,
        query.dtype,
        precision,
        module,
        promote_dtype,
        is_causal,
    )
    heads, kv_heads = weights.shape[-3], value.shape[-2]
    grouped = jnp.reshape(
        weights, (*weights.shape[:-3], kv_heads, heads // kv_heads, *weights.shape[-2:])
    )
    out = jnp.einsum("...hgqk,...khd->...qhgd", grouped, value, precision=precision)
    return jnp.reshape(out, (*out.shape[:-3], heads, out.shape[-1]))


def _fused(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    bias: jax.Array | None,
    mask: jax.Array | None,
    is_causal: bool,
) -> jax.Array:
    """``jax.nn.dot_product_attention``, which takes exactly one batch axis."""
    shape = query.shape
    batch = shape[:-3]

    def four_d(x: jax.Array) -> jax.Array:
        if x.ndim == 3:  # no batch axis at all
            return jnp.expand_dims(x, 0)
        return jnp.reshape(x, (math.prod(x.shape[:-3]), *x.shape[-3:]))

    def mask_4d(x: jax.Array | None) -> jax.Array | None:
        if x is None or len(batch) == 1:
            return x
        return four_d(jnp.broadcast_to(x, (*batch, *x.shape[-3:])))

    bool_mask = None if mask is None else jnp.asarray(mask, jnp.bool_)
    out = jax.nn.dot_product_attention(
        four_d(query),
        four_d(key),
        four_d(value),
        mask_4d(bias),
        mask_4d(bool_mask),
        is_causal=is_causal,
    )
    return jnp.reshape(out, shape)
