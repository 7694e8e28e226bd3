"""BatchNorm and LayerNorm, and the statistics they share.

Both normalise ``x`` as ``(x - mean) * rsqrt(var + epsilon) * scale + bias``. The
variance is the biased ``E[x^2] - E[x]^2``, computed in one pass in at least float32
and clamped at zero (rounding can make it slightly negative, and ``rsqrt`` of a negative
number is NaN). Shapes are made to match by explicit reshapes, never by implicit rank
promotion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import Module, message
from nnx_layers._checks import as_array, check_array, check_feature_axes
from nnx_layers._dtypes import PromoteDtype, statistics_dtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import NO_METADATA, check_metadata, optional_param
from nnx_layers.initializers import Initializer, ones, zeros
from nnx_variables import BatchStat, Rngs


def canonical_axes(axes: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """``axes`` as sorted non-negative ints.

    >>> canonical_axes(-1, 3), canonical_axes((2, -3), 3)
    ((2,), (0, 2))
    """
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return tuple(sorted(a % ndim for a in axes))


def batch_statistics(
    x: jax.Array,
    axes: tuple[int, ...],
    dtype: Any,
    axis_name: str | None,
    *,
    use_mean: bool = True,
    use_fast_variance: bool = True,
    mask: jax.Array | None = None,
    axis_index_groups: Any = None,
) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance of ``x`` over ``axes`` (and over ``axis_name`` if mapped).

    ``use_fast_variance`` takes ``E[x^2] - E[x]^2`` in one pass (clamped at zero);
    otherwise ``E[(x - E[x])^2]`` in two, which keeps its digits when the mean is large
    against the spread. ``use_mean=False`` gives a zero mean and ``E[x^2]`` (RMSNorm).
    ``mask`` (the shape of ``x``) keeps only the entries where it is true. Under
    ``jax.vmap(..., axis_name=name)`` or ``shard_map``, ``axis_name`` averages the
    statistics over the mapped axis too, with one ``pmean`` of the stacked moments;
    ``axis_index_groups`` (lists of device indices) averages within each group only.

    >>> import jax.numpy as jnp
    >>> mean, var = batch_statistics(jnp.array([[1.0], [3.0]]), (0,), None, None)
    >>> mean.tolist(), var.tolist()
    ([2.0], [1.0])
    """
    x = jnp.asarray(x, statistics_dtype(x, dtype))

    def means(*arrays: jax.Array) -> list[jax.Array]:
        found = [jnp.mean(a, axes, where=mask) for a in arrays]
        if axis_name is not None:
            # One collective for all moments.
            stacked = _pmean(jnp.stack(found), axis_name, axis_index_groups)
            found = [stacked[i] for i in range(len(arrays))]
        return found

    if not use_mean:
        (var,) = means(lax.square(x))
        return jnp.zeros_like(var), var
    if use_fast_variance:
        mean, mean_of_squares = means(x, lax.square(x))
        return mean, jnp.maximum(0.0, mean_of_squares - lax.square(mean))
    (mean,) = means(x)
    (var,) = means(lax.square(x - jnp.expand_dims(mean, axes)))
    return mean, var


def _pmean(x: jax.Array, axis_name: str, axis_index_groups: Any) -> jax.Array:
    """``lax.pmean`` over ``axis_name``, within ``axis_index_groups`` when given.

    JAX implements grouped collectives under ``pmap`` only; under ``vmap`` and
    ``shard_map`` it raises a bare ``NotImplementedError``, re-raised here (same type,
    as flax lets it through) with the way out.
    """
    try:
        mean: jax.Array = lax.pmean(  # type: ignore[no-untyped-call]  # unannotated in jax
            x, axis_name, axis_index_groups=axis_index_groups
        )
    except NotImplementedError as error:
        if axis_index_groups is None:
            raise
        raise NotImplementedError(
            message(
                f"nnx normalization: JAX cannot average over axis_name={axis_name!r} within "
                f"axis_index_groups={axis_index_groups!r} under this transform.",
                [f"JAX: {error}"] if str(error) else [],
                expected="axis_index_groups under jax.pmap or nnx.pmap (vmap and shard_map "
                "collectives take no groups)",
                fix="nnx.pmap(f, axis_name=...), or axis_index_groups=None with the mapped "
                "axis split so that each group is its own axis",
            )
        ) from error
    return mean


def normalize(
    x: jax.Array,
    mean: jax.Array,
    var: jax.Array,
    scale: jax.Array | None,
    bias: jax.Array | None,
    *,
    reduction_axes: tuple[int, ...],
    feature_axes: tuple[int, ...],
    epsilon: float,
    dtype: Any,
) -> jax.Array:
    """``(x - mean) * rsqrt(var + epsilon) * scale + bias``, broadcast explicitly.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[1.0], [3.0]])
    >>> normalize(x, jnp.array([2.0]), jnp.array([1.0]), None, None, reduction_axes=(0,),
    ...           feature_axes=(1,), epsilon=0.0, dtype=None).tolist()
    [[-1.0], [1.0]]
    """
    stats_shape = tuple(1 if i in reduction_axes else n for i, n in enumerate(x.shape))
    feature_shape = tuple(n if i in feature_axes else 1 for i, n in enumerate(x.shape))
    y = x - jnp.reshape(mean, stats_shape)
    multiplier = lax.rsqrt(jnp.reshape(var, stats_shape) + epsilon)
    present = [x]
    if scale is not None:
        multiplier = multiplier * jnp.reshape(scale, feature_shape)
        present.append(scale)
    y = y * multiplier
    if bias is not None:
        y = y + jnp.reshape(bias, feature_shape)
        present.append(bias)
    return jnp.asarray(y, jnp.result_type(*present) if dtype is None else dtype)


class BatchNorm(Module):
    """Normalise each feature with statistics of the batch; track their running averages.

    In training mode (``use_running_average=False``) the call normalises with the
    batch's mean and biased variance over every axis but ``axis``, and updates the
    ``BatchStat``s ``mean`` and ``var`` as ``momentum * old + (1 - momentum) * batch``.
    In inference mode (``model.eval()``) it normalises with those running averages and
    changes nothing. Learned ``scale`` (ones) and ``bias`` (zeros) are ``Param``s.
    ``axis_name`` averages the batch statistics across a mapped axis too (within each of
    ``axis_index_groups`` under ``pmap``); ``promote_dtype`` casts
    ``(x, mean, var, scale, bias)`` to the computation dtype.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> bn = BatchNorm(2, rngs=Rngs(0))
    >>> y = bn(jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> print(bn.mean.value)
    [0.01 0.02]
    """

    def __init__(
        self,
        num_features: int,
        *,
        use_running_average: bool = False,
        axis: int | Sequence[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = zeros,
        scale_init: Initializer = ones,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = True,
        promote_dtype: PromoteDtype = default_promote_dtype,
        scale_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.BatchNorm", scale_metadata=scale_metadata, bias_metadata=bias_metadata)
        shape = (num_features,)
        self.mean = BatchStat(jnp.zeros(shape, jnp.float32))
        self.var = BatchStat(jnp.ones(shape, jnp.float32))
        # Keys are drawn even for the default constant initialisers, so that the keys a
        # model consumes do not depend on which initialisers it uses.
        self.scale = optional_param(use_scale, scale_init, rngs, shape, param_dtype, scale_metadata)
        self.bias = optional_param(use_bias, bias_init, rngs, shape, param_dtype, bias_metadata)
        self.num_features = num_features
        self.use_running_average = use_running_average
        self.axis = axis if isinstance(axis, int) else tuple(axis)
        self.momentum = momentum
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(
        self,
        x: jax.Array,
        use_running_average: bool | None = None,
        *,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        """Normalise ``x``; ``use_running_average`` given here overrides the stored flag.

        ``mask`` (the shape of ``x``) restricts the batch statistics to its true entries.
        """
        if use_running_average is None:
            use_running_average = self.use_running_average
        check_array(self, x)
        x = as_array(x)
        feature_axes = self._feature_axes(x)
        reduction_axes = tuple(i for i in range(x.ndim) if i not in feature_axes)
        scale = None if self.scale is None else self.scale[...]
        bias = None if self.bias is None else self.bias[...]
        x, mean, var, scale, bias = self.promote_dtype(
            (x, self.mean[...], self.var[...], scale, bias), dtype=self.dtype
        )
        if not use_running_average:
            mean, var = batch_statistics(
                x,
                reduction_axes,
                self.dtype,
                self.axis_name,
                use_fast_variance=self.use_fast_variance,
                mask=mask,
                axis_index_groups=self.axis_index_groups,
            )
            m, stats_shape = self.momentum, self.mean.value.shape
            batch_mean, batch_var = jnp.reshape(mean, stats_shape), jnp.reshape(var, stats_shape)
            self.mean.value = lax.stop_gradient(m * self.mean[...] + (1 - m) * batch_mean)
            self.var.value = lax.stop_gradient(m * self.var[...] + (1 - m) * batch_var)
        return normalize(
            x,
            mean,
            var,
            scale,
            bias,
            reduction_axes=reduction_axes,
            feature_axes=feature_axes,
            epsilon=self.epsilon,
            dtype=self.dtype,
        )

    def set_view(self, use_running_average: bool | None = None) -> None:
        """Set the mode ``nnx.view(model, use_running_average=...)`` asks for (flax's hook).

        >>> from nnx_variables import Rngs
        >>> bn = BatchNorm(2, rngs=Rngs(0))
        >>> bn.set_view(use_running_average=True)
        >>> bn.use_running_average
        True
        """
        if use_running_average is not None:
            self.use_running_average = use_running_average

    def _feature_axes(self, x: jax.Array) -> tuple[int, ...]:
        fix = f"normalise the axis of size {self.num_features}: nnx.BatchNorm(..., axis=...)"
        check_feature_axes(
            self, x, axes=self.axis, size=self.num_features, name="num_features", fix=fix
        )
        return canonical_axes(self.axis, x.ndim)


class LayerNorm(Module):
    """Normalise each example over its feature axes (no running state).

    Statistics are taken over ``reduction_axes`` of each input on its own, so the layer
    behaves the same in training and inference. ``scale`` (ones) and ``bias`` (zeros)
    have shape ``(num_features,)`` and apply along ``feature_axes``.
    ``promote_dtype`` casts ``(x, scale, bias)``; ``axis_name`` and ``axis_index_groups``
    act as in ``BatchNorm``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> ln = LayerNorm(3, rngs=Rngs(0))
    >>> print(ln(jnp.array([[1.0, 2.0, 3.0]])).round(3))
    [[-1.225  0.     1.225]]
    """

    def __init__(
        self,
        num_features: int,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = zeros,
        scale_init: Initializer = ones,
        reduction_axes: int | Sequence[int] = -1,
        feature_axes: int | Sequence[int] = -1,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = True,
        promote_dtype: PromoteDtype = default_promote_dtype,
        scale_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.LayerNorm", scale_metadata=scale_metadata, bias_metadata=bias_metadata)
        shape = (num_features,)
        self.scale = optional_param(use_scale, scale_init, rngs, shape, param_dtype, scale_metadata)
        self.bias = optional_param(use_bias, bias_init, rngs, shape, param_dtype, bias_metadata)
        self.num_features = num_features
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.reduction_axes = _static_axes(reduction_axes)
        self.feature_axes = _static_axes(feature_axes)
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalise ``x`` over its reduction axes (statistics of ``mask``'s entries only)."""
        check_array(self, x)
        x = as_array(x)
        fix = f"pass inputs whose feature axis has size {self.num_features}"
        check_feature_axes(
            self, x, axes=self.feature_axes, size=self.num_features, name="num_features", fix=fix
        )
        feature_axes = canonical_axes(self.feature_axes, x.ndim)
        reduction_axes = canonical_axes(self.reduction_axes, x.ndim)
        scale = None if self.scale is None else self.scale[...]
        bias = None if self.bias is None else self.bias[...]
        x, scale, bias = self.promote_dtype((x, scale, bias), dtype=self.dtype)
        mean, var = batch_statistics(
            x,
            reduction_axes,
            self.dtype,
            self.axis_name,
            use_fast_variance=self.use_fast_variance,
            mask=mask,
            axis_index_groups=self.axis_index_groups,
        )
        return normalize(
            x,
            mean,
            var,
            scale,
            bias,
            reduction_axes=reduction_axes,
            feature_axes=feature_axes,
            epsilon=self.epsilon,
            dtype=self.dtype,
        )


def _static_axes(axes: int | Sequence[int]) -> int | tuple[int, ...]:
    return axes if isinstance(axes, int) else tuple(axes)
