"""WeightNorm: a wrapper that rewrites a layer's kernels to unit L2 norm before each call.

As in flax.nnx 0.12.8 (https://arxiv.org/abs/1602.07868), the normalised weight is
written back into the wrapped layer's own Variable (``layer_instance.kernel`` holds
``scale * w / ||w||`` after a call), so the layer needs no change. The scales are a dict
``{path in layer_instance: array}`` of plain arrays in the ``scales`` attribute, so
``nnx.state(model)`` has them at ``scales/('kernel',)`` as flax does; they are not
``Param``, hence not trained by ``nnx.Optimizer(model, tx, wrt=nnx.Param)``, also as flax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import (
    Filter,
    Module,
    Path,
    PathContains,
    Variable,
    describe,
    format_path,
    message,
    state,
    to_flat_state,
    to_predicate,
)
from nnx_layers._checks import check_array
from nnx_layers._dtypes import PromoteDtype, promote_dtype
from nnx_layers._normalization import _static_axes, canonical_axes
from nnx_layers.initializers import Initializer, ones
from nnx_variables import Param, Rngs


def l2_normalize(
    x: jax.Array, axis: tuple[int, ...] | None = None, eps: float = 1e-12
) -> jax.Array:
    """``x / sqrt(sum(x**2, axis) + eps)``, the norm taken over ``axis`` (all axes if None).

    >>> import jax.numpy as jnp
    >>> l2_normalize(jnp.array([3.0, 4.0])).tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    return x * jax.lax.rsqrt((x * x).sum(axis=axis, keepdims=True) + eps)


def result_dtype(*arrays: Any, dtype: Any = None) -> Any:
    """``dtype``, or the arrays' common inexact type when it is None."""
    if dtype is None:
        dtype = jnp.result_type(*arrays)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.promote_types(jnp.float32, dtype)
    return dtype


class WeightNorm(Module):
    """Wrap ``layer_instance`` so the Variables ``variable_filter`` selects have unit norm.

    Each selected weight is divided by its L2 norm over every axis but ``feature_axes``
    (``None``: over all axes) and multiplied by its scale (shaped as the feature axes)
    before the layer is called; the result is stored in the layer's Variable.

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from nnx_layers import Linear
    >>> rngs = Rngs(0)
    >>> layer = WeightNorm(Linear(8, 4, rngs=rngs), rngs=rngs)
    >>> layer(jnp.ones((5, 8))).shape
    (5, 4)
    >>> np.linalg.norm(layer.layer_instance.kernel[...], axis=0).round(5).tolist()
    [1.0, 1.0, 1.0, 1.0]

    Args:
        scale_init: called as ``scale_init(key, shape, param_dtype)``. The key is the
            next key of ``rngs.params`` without drawing it (flax passes the stream and
            draws nothing), so the layers built after this one get flax's numbers.
        promote_dtype: kept for flax's signature; the weights are cast to ``dtype`` or
            to the common type of the weight and its scale.
    """

    def __init__(
        self,
        layer_instance: Module,
        *,
        feature_axes: int | Sequence[int] | None = -1,
        use_scale: bool = True,
        scale_init: Initializer = ones,
        epsilon: float = 1e-12,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        variable_filter: Filter = PathContains("kernel"),  # noqa: B008  # an immutable filter
        promote_dtype: PromoteDtype = promote_dtype,
        rngs: Rngs,
    ) -> None:
        self.layer_instance = layer_instance
        self.feature_axes = () if feature_axes is None else _static_axes(feature_axes)
        self.use_scale = use_scale
        self.scale_init = scale_init
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.variable_filter: Callable[[Path, Any], bool] = to_predicate(variable_filter)
        self.promote_dtype = promote_dtype
        self.scales: dict[Path, jax.Array] | None = None
        if use_scale:
            stream = rngs.params
            key = jax.random.fold_in(stream.key.value, stream.count.value)
            # A plain dict of arrays is data by itself; nnx.data would mark ``scales``
            # as data on the class, so a use_scale=False instance would show scales=None.
            self.scales = {
                path: scale_init(key, self._scale_shape(param), param_dtype)
                for path, param in to_flat_state(state(layer_instance, Param))
                if self.variable_filter(path, param)
            }

    def _scale_shape(self, param: Variable[Any]) -> tuple[int, ...]:
        return tuple(param.shape[ax] for ax in canonical_axes(self.feature_axes, param.ndim))

    def __call__(self, x: jax.Array, *args: Any, **kwargs: Any) -> Any:
        """Normalise the selected weights in place, then call the wrapped layer.

        ``x`` is checked first, so a bad input leaves the weights as they were.
        """
        check_array(self, x)
        selected = [
            (path, variable)
            for path, variable in to_flat_state(state(self.layer_instance))
            if self.variable_filter(path, variable)
        ]
        if self.scales is not None:
            self._check_scales(selected)
        for path, variable in selected:
            self._normalize(path, variable)
        return self.layer_instance(x, *args, **kwargs)  # type: ignore[operator]  # layers define __call__

    def _check_scales(self, selected: list[tuple[Path, Variable[Any]]]) -> None:
        assert self.scales is not None
        missing = [(path, v) for path, v in selected if path not in self.scales]
        if missing:
            raise RuntimeError(
                message(
                    "nnx.WeightNorm: the wrapped layer has weights with no scale.",
                    [
                        f"{format_path(path, 'layer_instance')}: {describe(v)}"
                        for path, v in missing
                    ],
                    expected=f"the weights the scales were made for: {sorted(self.scales)}",
                    fix="build the WeightNorm after the layer has all its parameters",
                )
            )

    def _normalize(self, path: Path, variable: Variable[Any]) -> None:
        weight = variable[...]
        feature_axes = canonical_axes(self.feature_axes, weight.ndim)
        reduction_axes = tuple(i for i in range(weight.ndim) if i not in feature_axes)
        normalized = l2_normalize(weight, axis=reduction_axes, eps=self.epsilon)
        if self.scales is None:
            variable[...] = jnp.asarray(normalized, result_dtype(weight, dtype=self.dtype))
            return
        scale = self.scales[path]
        if len(feature_axes) < weight.ndim:
            shape = [1] * weight.ndim
            for ax in feature_axes:
                shape[ax] = weight.shape[ax]
            scale = scale.reshape(shape)
        dtype = result_dtype(weight, scale, dtype=self.dtype)
        variable[...] = jnp.asarray(normalized * scale, dtype)
