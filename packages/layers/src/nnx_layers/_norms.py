"""RMSNorm, GroupNorm and InstanceNorm: per-example normalisations without running state.

They share ``batch_statistics`` and ``normalize`` with LayerNorm (statistics in at least
float32, explicit reshapes, ``mask=`` restricting the statistics); they differ only in
which axes the statistics are taken over: the features (RMSNorm, with no mean), groups of
channels plus the spatial axes (GroupNorm), or the spatial axes alone (InstanceNorm).
The input's first axis is the batch and its last the channels.
Each takes ``promote_dtype`` (the cast of ``(x, scale[, bias])``) and ``axis_name`` with
``axis_index_groups`` as LayerNorm does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import LayerInputError, Module
from nnx_layers._checks import as_array, check_array, check_feature_axes
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._normalization import (
    _static_axes,
    batch_statistics,
    canonical_axes,
    normalize,
)
from nnx_layers._params import NO_METADATA, check_metadata, optional_param
from nnx_layers.initializers import Initializer, ones, zeros
from nnx_variables import Param, Rngs


def _value(p: Param[jax.Array] | None) -> jax.Array | None:
    return None if p is None else p[...]


class RMSNorm(Module):
    """``x * rsqrt(mean(x^2) + epsilon) * scale``: LayerNorm without centring or bias.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> y = RMSNorm(2, rngs=Rngs(0))(jnp.array([[3.0, 4.0]]))
    >>> [round(v, 3) for v in y[0].tolist()]
    [0.849, 1.131]
    """

    def __init__(
        self,
        num_features: int,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_scale: bool = True,
        scale_init: Initializer = ones,
        reduction_axes: int | Sequence[int] = -1,
        feature_axes: int | Sequence[int] = -1,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = True,
        promote_dtype: PromoteDtype = default_promote_dtype,
        scale_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.RMSNorm", scale_metadata=scale_metadata)
        shape = (num_features,)
        self.scale = optional_param(use_scale, scale_init, rngs, shape, param_dtype, scale_metadata)
        self.num_features = num_features
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_scale = use_scale
        self.reduction_axes = _static_axes(reduction_axes)
        self.feature_axes = _static_axes(feature_axes)
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """Normalise ``x`` by its root mean square over ``reduction_axes``."""
        check_array(self, x)
        x = as_array(x)
        fix = f"pass inputs whose feature axis has size {self.num_features}"
        check_feature_axes(
            self, x, axes=self.feature_axes, size=self.num_features, name="num_features", fix=fix
        )
        reduction = canonical_axes(self.reduction_axes, x.ndim)
        x, scale = self.promote_dtype((x, _value(self.scale)), dtype=self.dtype)
        mean, var = batch_statistics(
            x,
            reduction,
            self.dtype,
            self.axis_name,
            use_mean=False,
            mask=mask,
            axis_index_groups=self.axis_index_groups,
        )
        return normalize(
            x,
            mean,
            var,
            scale,
            None,
            reduction_axes=reduction,
            feature_axes=canonical_axes(self.feature_axes, x.ndim),
            epsilon=self.epsilon,
            dtype=self.dtype,
        )


class GroupNorm(Module):
    """Normalise each example over groups of channels (and all its other non-batch axes).

    Give ``num_groups`` (default 32) or ``group_size`` with ``num_groups=None``; either
    must divide ``num_features``. ``scale`` and ``bias`` are per channel.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> gn = GroupNorm(4, num_groups=2, rngs=Rngs(0))
    >>> gn(jnp.array([[0.0, 2.0, 5.0, 5.0]])).round(2).tolist()
    [[-1.0, 1.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        num_features: int,
        num_groups: int | None = 32,
        group_size: int | None = None,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = zeros,
        scale_init: Initializer = ones,
        reduction_axes: int | Sequence[int] | None = None,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = True,
        promote_dtype: PromoteDtype = default_promote_dtype,
        scale_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.GroupNorm", scale_metadata=scale_metadata, bias_metadata=bias_metadata)
        if (num_groups is None) == (group_size is None):
            raise ValueError(
                "nnx.GroupNorm: give exactly one of num_groups and group_size, got "
                f"num_groups={num_groups}, group_size={group_size}.\n"
                f"Fix: GroupNorm({num_features}, num_groups=None, group_size=...)"
            )
        if group_size is not None and group_size > 0 and num_features % group_size == 0:
            groups, size = num_features // group_size, group_size
        elif num_groups is not None and num_groups > 0 and num_features % num_groups == 0:
            groups, size = num_groups, num_features // num_groups
        else:
            raise ValueError(
                f"nnx.GroupNorm: {num_features} features cannot be split into groups "
                f"(num_groups={num_groups}, group_size={group_size}).\n"
                f"Fix: choose a divisor of {num_features}, e.g. GroupNorm({num_features}, "
                "num_groups=1)"
            )
        self.num_features = num_features
        self.num_groups = groups
        self.group_size = size
        shape = (num_features,)
        self.scale = optional_param(use_scale, scale_init, rngs, shape, param_dtype, scale_metadata)
        self.bias = optional_param(use_bias, bias_init, rngs, shape, param_dtype, bias_metadata)
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.reduction_axes = None if reduction_axes is None else _static_axes(reduction_axes)
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalise ``x`` (batch first, channels last) within each channel group."""
        check_array(self, x)
        x = as_array(x)
        if x.ndim < 2 or x.shape[-1] != self.num_features:
            raise LayerInputError(
                self,
                f"expected input (batch, ..., {self.num_features}) with channels last, "
                f"got shape {x.shape}",
                fix=f"pass inputs of shape (batch, ..., {self.num_features})",
            )
        if self.reduction_axes is None:
            reduction = tuple(range(1, x.ndim))
        else:
            reduction = canonical_axes(self.reduction_axes, x.ndim)
        grouped_shape = (*x.shape[:-1], self.num_groups, self.group_size)
        if mask is not None:
            mask = jnp.reshape(mask, grouped_shape)
        x, scale, bias = self.promote_dtype(
            (x, _value(self.scale), _value(self.bias)), dtype=self.dtype
        )
        # Statistics over the grouped array: the spatial axes and each group's channels.
        group_axes = (*reduction[:-1], x.ndim)
        mean, var = batch_statistics(
            jnp.reshape(x, grouped_shape),
            group_axes,
            self.dtype,
            self.axis_name,
            use_fast_variance=self.use_fast_variance,
            mask=mask,
            axis_index_groups=self.axis_index_groups,
        )
        mean = jnp.repeat(mean, self.group_size, axis=-1)
        var = jnp.repeat(var, self.group_size, axis=-1)
        return normalize(
            x,
            mean,
            var,
            scale,
            bias,
            reduction_axes=reduction[:-1],
            feature_axes=(x.ndim - 1,),
            epsilon=self.epsilon,
            dtype=self.dtype,
        )


class InstanceNorm(Module):
    """Normalise each example and channel over the remaining (spatial) axes.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> norm = InstanceNorm(1, rngs=Rngs(0))
    >>> print(norm(jnp.array([[[1.0], [3.0]]])).round(2).ravel())
    [-1.  1.]
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
        feature_axes: int | Sequence[int] = -1,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = True,
        promote_dtype: PromoteDtype = default_promote_dtype,
        scale_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata(
            "nnx.InstanceNorm", scale_metadata=scale_metadata, bias_metadata=bias_metadata
        )
        shape = (num_features,)
        self.scale = optional_param(use_scale, scale_init, rngs, shape, param_dtype, scale_metadata)
        self.bias = optional_param(use_bias, bias_init, rngs, shape, param_dtype, bias_metadata)
        self.num_features = num_features
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.feature_axes = _static_axes(feature_axes)
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalise ``x`` (batch first) over every axis but the batch and the features."""
        check_array(self, x)
        x = as_array(x)
        fix = f"pass inputs (batch, ..., {self.num_features})"
        check_feature_axes(
            self, x, axes=self.feature_axes, size=self.num_features, name="num_features", fix=fix
        )
        features = canonical_axes(self.feature_axes, x.ndim)
        if 0 in features:
            raise LayerInputError(
                self,
                f"feature_axes {self.feature_axes} include axis 0, the batch axis",
                fix="InstanceNorm(..., feature_axes=-1)",
            )
        reduction = tuple(i for i in range(1, x.ndim) if i not in features)
        x, scale, bias = self.promote_dtype(
            (x, _value(self.scale), _value(self.bias)), dtype=self.dtype
        )
        mean, var = batch_statistics(
            x,
            reduction,
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
            reduction_axes=reduction,
            feature_axes=features,
            epsilon=self.epsilon,
            dtype=self.dtype,
        )
