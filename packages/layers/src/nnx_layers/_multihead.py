"""MultiHeadAttention: query/key/value projections, attention, output projection.

The projections are ``LinearGeneral`` layers named ``query``, ``key``, ``value`` and
``out`` with kernels ``(in, heads, head_dim)`` and ``(heads, head_dim, out)``, so a model
ported from flax has the same state paths and, from one seed, the same values (parameter
keys are drawn in that order, then ``query_ln`` and ``key_ln`` when ``normalize_qk``).

Autoregressive decoding: ``init_cache(input_shape)`` creates the ``Cache`` Variables
``cached_key``, ``cached_value`` (``(*batch, max_length, kv_heads, head_dim)``) and
``cache_index``; each call with ``decode=True`` takes one position, writes its key and
value at ``cache_index``, attends to every position written so far and advances the
index. Feeding a sequence one token at a time reproduces the causal full-sequence output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import LayerInputError, Module
from nnx_layers._attention import combine_masks, dot_product_attention
from nnx_layers._checks import check_feature_axis, check_rank
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._general import LinearGeneral, default_kernel_init
from nnx_layers._normalization import LayerNorm
from nnx_layers._params import NO_METADATA, check_metadata
from nnx_layers.initializers import Initializer, zeros_init
from nnx_variables import Cache, Rngs, RngStream


class MultiHeadAttention(Module):
    """Multi-head dot-product attention (self-attention when only ``inputs_q`` is given).

    ``qkv_features`` (default ``in_features``) is split over ``num_heads``; fewer
    ``num_kv_heads`` gives grouped-query attention. ``attention_fn`` replaces
    ``dot_product_attention`` (same signature). Dropout on the weights needs
    ``deterministic=False`` (``model.train()``) and draws keys from a stream forked from
    ``rngs.dropout`` at construction.

    ``qkv_*`` and ``out_*`` keywords reach the ``promote_dtype``, ``dot_general`` and
    ``dot_general_cls`` of the query/key/value and output projections;
    ``ln_promote_dtype`` reaches ``query_ln`` and ``key_ln``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> mha = MultiHeadAttention(num_heads=2, in_features=8, decode=False, rngs=Rngs(0))
    >>> mha.query.kernel.shape, mha(jnp.ones((3, 5, 8))).shape
    ((8, 2, 4), (3, 5, 8))
    """

    def __init__(
        self,
        num_heads: int,
        in_features: int,
        qkv_features: int | None = None,
        out_features: int | None = None,
        num_kv_heads: int | None = None,
        in_kv_features: int | None = None,
        *,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        broadcast_dropout: bool = True,
        dropout_rate: float = 0.0,
        deterministic: bool | None = None,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        out_kernel_init: Initializer | None = None,
        bias_init: Initializer = zeros_init(),  # noqa: B008  (a pure function, shared safely)
        out_bias_init: Initializer | None = None,
        use_bias: bool = True,
        attention_fn: Callable[..., jax.Array] = dot_product_attention,
        decode: bool | None = None,
        normalize_qk: bool = False,
        qkv_promote_dtype: PromoteDtype = default_promote_dtype,
        out_promote_dtype: PromoteDtype = default_promote_dtype,
        ln_promote_dtype: PromoteDtype = default_promote_dtype,
        qkv_dot_general: Callable[..., jax.Array] | None = None,
        out_dot_general: Callable[..., jax.Array] | None = None,
        qkv_dot_general_cls: Callable[[], Callable[..., jax.Array]] | None = None,
        out_dot_general_cls: Callable[[], Callable[..., jax.Array]] | None = None,
        rngs: Rngs,
        keep_rngs: bool = True,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        out_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        out_bias_metadata: Mapping[str, Any] = NO_METADATA,
        query_ln_scale_metadata: Mapping[str, Any] = NO_METADATA,
        key_ln_scale_metadata: Mapping[str, Any] = NO_METADATA,
    ) -> None:
        check_metadata(
            "nnx.MultiHeadAttention",
            kernel_metadata=kernel_metadata,
            out_kernel_metadata=out_kernel_metadata,
            bias_metadata=bias_metadata,
            out_bias_metadata=out_bias_metadata,
            query_ln_scale_metadata=query_ln_scale_metadata,
            key_ln_scale_metadata=key_ln_scale_metadata,
        )
        self.num_heads = num_heads
        self.in_features = in_features
        self.qkv_features = in_features if qkv_features is None else qkv_features
        self.out_features = in_features if out_features is None else out_features
        self.in_kv_features = in_features if in_kv_features is None else in_kv_features
        self.num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if self.qkv_features % num_heads or num_heads % self.num_kv_heads:
            raise ValueError(
                f"nnx.MultiHeadAttention: qkv_features ({self.qkv_features}) must divide "
                f"into num_heads ({num_heads}) heads, and num_kv_heads ({self.num_kv_heads}) "
                f"must divide num_heads.\nFix: MultiHeadAttention(num_heads={num_heads}, "
                f"in_features={in_features}, qkv_features={num_heads * 8}, ...)"
            )
        self.head_dim = self.qkv_features // num_heads
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.broadcast_dropout = broadcast_dropout
        self.dropout_rate = dropout_rate
        self.deterministic = deterministic
        self.precision = precision
        self.use_bias = use_bias
        self.attention_fn = attention_fn
        self.decode = decode
        self.normalize_qk = normalize_qk
        self.qkv_promote_dtype = qkv_promote_dtype
        self.out_promote_dtype = out_promote_dtype
        self.ln_promote_dtype = ln_promote_dtype
        self.qkv_dot_general = qkv_dot_general
        self.out_dot_general = out_dot_general
        self.qkv_dot_general_cls = qkv_dot_general_cls
        self.out_dot_general_cls = out_dot_general_cls

        def projection(features: int, heads: int) -> LinearGeneral:
            return LinearGeneral(
                features,
                (heads, self.head_dim),
                dtype=dtype,
                param_dtype=param_dtype,
                kernel_init=kernel_init,
                bias_init=bias_init,
                use_bias=use_bias,
                precision=precision,
                promote_dtype=qkv_promote_dtype,
                dot_general=qkv_dot_general,
                dot_general_cls=qkv_dot_general_cls,
                kernel_metadata=kernel_metadata,
                bias_metadata=bias_metadata,
                rngs=rngs,
            )

        self.query = projection(in_features, num_heads)
        self.key = projection(self.in_kv_features, self.num_kv_heads)
        self.value = projection(self.in_kv_features, self.num_kv_heads)
        self.query_ln: LayerNorm | None = None
        self.key_ln: LayerNorm | None = None
        if normalize_qk:
            norm: dict[str, Any] = dict(
                use_bias=False,
                dtype=dtype,
                param_dtype=param_dtype,
                promote_dtype=ln_promote_dtype,
                rngs=rngs,
            )
            self.query_ln = LayerNorm(self.head_dim, scale_metadata=query_ln_scale_metadata, **norm)
            self.key_ln = LayerNorm(self.head_dim, scale_metadata=key_ln_scale_metadata, **norm)
        self.out = LinearGeneral(
            (num_heads, self.head_dim),
            self.out_features,
            axis=(-2, -1),
            kernel_init=out_kernel_init or kernel_init,
            bias_init=out_bias_init or bias_init,
            use_bias=use_bias,
            dtype=dtype,
            param_dtype=param_dtype,
            precision=precision,
            promote_dtype=out_promote_dtype,
            dot_general=out_dot_general,
            dot_general_cls=out_dot_general_cls,
            # An empty mapping falls back too, as in flax (``out_kernel_metadata or ...``).
            kernel_metadata=out_kernel_metadata or kernel_metadata,
            bias_metadata=out_bias_metadata or bias_metadata,
            rngs=rngs,
        )
        self.rngs = rngs.dropout.fork() if keep_rngs and dropout_rate > 0 else None
        self.cached_key: Cache[jax.Array] | None = None
        self.cached_value: Cache[jax.Array] | None = None
        self.cache_index: Cache[jax.Array] | None = None

    def __call__(
        self,
        inputs_q: jax.Array,
        inputs_k: jax.Array | None = None,
        inputs_v: jax.Array | None = None,
        *,
        mask: jax.Array | None = None,
        deterministic: bool | None = None,
        rngs: Rngs | RngStream | None = None,
        sow_weights: bool = False,
        decode: bool | None = None,
        is_causal: bool = False,
        out_sharding: Any = None,
        qkv_sharding: Any = None,
    ) -> jax.Array:
        """Attend from ``inputs_q`` to ``inputs_k`` (default ``inputs_q``) over ``inputs_v``.

        ``mask`` is ``(..., heads or 1, q_length, kv_length)``, true where attention is
        allowed. ``sow_weights=True`` stores the weights as the ``Intermediate``
        ``attention_weights``. ``qkv_sharding`` and ``out_sharding`` are the shardings
        of the query/key/value projections and of the output projection, as in flax.
        """
        if inputs_k is None:
            if inputs_v is not None:
                raise ValueError(
                    "nnx.MultiHeadAttention: inputs_v given without inputs_k.\n"
                    "Fix: mha(inputs_q, inputs_kv) uses one array for keys and values"
                )
            inputs_k = inputs_q
        if inputs_v is None:
            inputs_v = inputs_k
        fix = f"pass inputs of shape (..., length, {self.in_features})"
        check_rank(self, inputs_q, minimum=2, what="length, features", fix=fix)
        check_feature_axis(
            self, inputs_q, axis=-1, size=self.in_features, name="in_features", fix=fix
        )
        query = self.query(inputs_q, out_sharding=qkv_sharding)
        key = self.key(inputs_k, out_sharding=qkv_sharding)
        value = self.value(inputs_v, out_sharding=qkv_sharding)
        if self.query_ln is not None and self.key_ln is not None:
            query, key = self.query_ln(query), self.key_ln(key)
        if self.decode if decode is None else decode:
            key, value, mask = self._write_cache(key, value, mask)
        dropout_key = self._dropout_key(deterministic, rngs)
        x = self.attention_fn(
            query,
            key,
            value,
            mask=mask,
            dropout_rng=dropout_key,
            dropout_rate=self.dropout_rate,
            broadcast_dropout=self.broadcast_dropout,
            deterministic=dropout_key is None,
            dtype=self.dtype,
            precision=self.precision,
            module=self if sow_weights else None,
            is_causal=is_causal,
        )
        return self.out(x, out_sharding=out_sharding)

    def init_cache(self, input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> None:
        """Create empty decoding caches for inputs ``(*batch, max_length, features)``.

        >>> import jax.numpy as jnp
        >>> from nnx_variables import Rngs
        >>> mha = MultiHeadAttention(2, 8, decode=True, rngs=Rngs(0))
        >>> mha.init_cache((1, 4, 8))
        >>> mha.cached_key.shape, int(mha(jnp.ones((1, 1, 8))).shape[1]), int(mha.cache_index)
        ((1, 4, 2, 4), 1, 1)
        """
        shape = (*input_shape[:-1], self.num_kv_heads, self.head_dim)
        self.cached_key = Cache(jnp.zeros(shape, dtype))
        self.cached_value = Cache(jnp.zeros(shape, dtype))
        self.cache_index = Cache(jnp.array(0, jnp.int32))

    def set_view(
        self,
        deterministic: bool | None = None,
        decode: bool | None = None,
        batch_size: int | tuple[int, ...] | None = None,
        max_length: int | None = None,
    ) -> None:
        """Set the mode ``nnx.view(model, ...)`` asks for; create the cache if it is missing.

        ``decode=True`` with ``batch_size`` and ``max_length`` on a layer without a cache
        creates it, as ``init_cache((*batch_size, max_length, features))`` would, in
        ``dtype`` (float32 when None). flax 0.12.8 means to do this but never does (its
        check ``hasattr(self, 'cached_key')`` is true for the ``None`` placeholder).

        >>> from nnx_variables import Rngs
        >>> mha = MultiHeadAttention(2, 8, decode=False, rngs=Rngs(0))
        >>> mha.set_view(decode=True, batch_size=1, max_length=4)
        >>> mha.decode, mha.cached_key.shape
        (True, (1, 4, 2, 4))
        """
        if deterministic is not None:
            self.deterministic = deterministic
        if decode is None:
            return
        self.decode = decode
        given = {"batch_size": batch_size, "max_length": max_length}
        if not decode or self.cached_key is not None or given == dict.fromkeys(given):
            return  # nothing to create: a cache can still come from init_cache
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise TypeError(
                f"MultiHeadAttention.set_view: {missing[0]!r} must be given with "
                f"{'max_length' if missing[0] == 'batch_size' else 'batch_size'} to create "
                "the decoding cache.\n"
                "Fix: nnx.view(model, decode=True, batch_size=1, max_length=128)"
            )
        assert batch_size is not None and max_length is not None
        batch = (batch_size,) if isinstance(batch_size, int) else tuple(batch_size)
        dtype = jnp.float32 if self.dtype is None else self.dtype
        self.init_cache((*batch, max_length, self.in_features), dtype)

    def _write_cache(
        self, key: jax.Array, value: jax.Array, mask: jax.Array | None
    ) -> tuple[jax.Array, jax.Array, jax.Array | None]:
        if self.cached_key is None or self.cached_value is None or self.cache_index is None:
            raise LayerInputError(
                self,
                "decode=True but the autoregressive cache was never initialised",
                fix="mha.init_cache((batch, max_length, in_features)) before decoding",
            )
        *batch, max_length, heads, head_dim = self.cached_key.shape
        expected = (*batch, 1, heads, head_dim)
        if key.shape != expected:
            raise LayerInputError(
                self,
                f"decoding takes one position at a time: expected keys {tuple(expected)} "
                f"for the cache {self.cached_key.shape}, got {key.shape}",
                fix=f"pass inputs of shape {(*batch, 1, self.in_kv_features)}",
            )
        index = self.cache_index[...]
        zero = jnp.zeros((), index.dtype)
        start = (zero,) * len(batch) + (index, zero, zero)
        key = lax.dynamic_update_slice(
            self.cached_key[...], key.astype(self.cached_key.dtype), start
        )
        value = lax.dynamic_update_slice(
            self.cached_value[...], value.astype(self.cached_value.dtype), start
        )
        self.cached_key.value = key
        self.cached_value.value = value
        self.cache_index.value = index + 1
        written = jnp.arange(max_length) <= index
        mask = combine_masks(mask, jnp.broadcast_to(written, (*batch, 1, 1, max_length)))
        return key, value, mask

    def _dropout_key(
        self, deterministic: bool | None, rngs: Rngs | RngStream | None
    ) -> jax.Array | None:
        if self.dropout_rate == 0.0:
            return None
        if deterministic is None:
            deterministic = self.deterministic
        if deterministic is None:
            raise LayerInputError(
                self,
                "dropout_rate > 0 but neither the layer nor the call says whether to drop",
                fix="model.train() / model.eval(), or mha(x, deterministic=True)",
            )
        if deterministic:
            return None
        stream = rngs.dropout if isinstance(rngs, Rngs) else rngs
        stream = self.rngs if stream is None else stream
        if stream is None:
            raise LayerInputError(
                self,
                "dropout needs random keys, but the layer was built with keep_rngs=False",
                fix="mha(x, rngs=nnx.Rngs(dropout=0))",
            )
        return stream()
