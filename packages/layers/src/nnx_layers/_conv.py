"""Conv: an N-dimensional convolution over channels-last inputs.

Inputs are ``(*batch, *spatial, in_features)`` (NHWC for images); the kernel is
``(*kernel_size, in_features // feature_group_count, out_features)``. Several leading
batch axes are flattened into one for ``lax.conv_general_dilated`` and restored after,
and an input without a batch axis gets one for the duration of the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import Module, describe, message
from nnx_layers._checks import as_array, check_feature_axis, check_rank
from nnx_layers._dtypes import promote_dtype
from nnx_layers.initializers import Initializer, lecun_normal, zeros_init
from nnx_variables import Param, Rngs

PaddingLike: TypeAlias = str | int | Sequence[int | tuple[int, int]]
LaxPadding: TypeAlias = str | tuple[tuple[int, int], ...]

default_kernel_init = lecun_normal()
default_bias_init = zeros_init()


def canonical_padding(padding: PaddingLike, rank: int) -> LaxPadding:
    """``padding`` in the form ``lax.conv_general_dilated`` takes.

    A string (``'SAME'``, ``'VALID'``) passes through; an int pads every spatial axis by
    that much on both sides; a sequence gives one int or ``(low, high)`` pair per axis.

    >>> canonical_padding(1, 2)
    ((1, 1), (1, 1))
    >>> canonical_padding([0, (1, 2)], 2)
    ((0, 0), (1, 2))
    """
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID", "SAME_LOWER"):
            return padding.upper()
    elif isinstance(padding, int):
        return ((padding, padding),) * rank
    elif isinstance(padding, Sequence) and len(padding) == rank:
        pairs = [_pair(p) for p in padding]
        if all(pair is not None for pair in pairs):
            return tuple(pair for pair in pairs if pair is not None)
    raise ValueError(
        message(
            f"nnx.Conv: invalid padding {padding!r} for a {rank}-d convolution.",
            expected=f"'SAME', 'VALID', an int, or {rank} ints or (low, high) pairs",
            fix="nnx.Conv(..., padding='SAME')",
        )
    )


def _pair(padding: Any) -> tuple[int, int] | None:
    if isinstance(padding, int):
        return (padding, padding)
    if isinstance(padding, tuple | list) and len(padding) == 2:
        low, high = padding
        if isinstance(low, int) and isinstance(high, int):
            return (low, high)
    return None


def _per_axis(value: int | Sequence[int] | None, rank: int, name: str) -> tuple[int, ...]:
    if value is None:
        return (1,) * rank
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(value)
    if len(values) != rank:
        raise ValueError(
            message(
                f"nnx.Conv: {name}={values!r} has {len(values)} entries for a "
                f"{rank}-d convolution.",
                expected=f"an int or {rank} ints, one per spatial axis",
                fix=f"nnx.Conv(..., {name}={values[0] if values else 1})",
            )
        )
    return values


class Conv(Module):
    """A convolution with a learned ``kernel`` and ``bias`` over channels-last inputs.

    ``padding`` is ``'SAME'`` (output spatial size ``ceil(size / stride)``), ``'VALID'``
    (no padding), an int, or per-axis ints / pairs. ``feature_group_count`` splits the
    channels into groups convolved separately (``in_features`` for a depthwise conv).

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> conv = Conv(3, 8, kernel_size=(3, 3), strides=2, rngs=Rngs(0))
    >>> conv.kernel.shape, conv(jnp.ones((1, 16, 16, 3))).shape
    ((3, 3, 3, 8), (1, 8, 8, 8))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] | None = 1,
        *,
        padding: PaddingLike = "SAME",
        input_dilation: int | Sequence[int] | None = 1,
        kernel_dilation: int | Sequence[int] | None = 1,
        feature_group_count: int = 1,
        use_bias: bool = True,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = default_bias_init,
        rngs: Rngs,
    ) -> None:
        size = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
        rank = len(size)
        if feature_group_count < 1 or in_features % feature_group_count:
            raise ValueError(
                message(
                    f"nnx.Conv: in_features={in_features} is not divisible by "
                    f"feature_group_count={describe(feature_group_count)}.",
                    expected="feature_group_count to be a positive divisor of in_features",
                    fix=f"nnx.Conv({in_features}, {out_features}, ..., feature_group_count=1)",
                )
            )
        # Validate every argument before drawing keys, so a failed build leaves rngs alone.
        self.strides = _per_axis(strides, rank, "strides")
        self.input_dilation = _per_axis(input_dilation, rank, "input_dilation")
        self.kernel_dilation = _per_axis(kernel_dilation, rank, "kernel_dilation")
        self.padding = canonical_padding(padding, rank)
        kernel_shape = (*size, in_features // feature_group_count, out_features)
        self.kernel = Param(kernel_init(rngs.params(), kernel_shape, param_dtype))
        self.bias: Param[jax.Array] | None = (
            Param(bias_init(rngs.params(), (out_features,), param_dtype)) if use_bias else None
        )
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = size
        self.feature_group_count = feature_group_count
        self.use_bias = use_bias
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Convolve ``inputs`` of shape ``(*batch, *spatial, in_features)``."""
        rank = len(self.kernel_size)
        fix = f"pass inputs of shape (batch, {', '.join(['size'] * rank)}, {self.in_features})"
        check_rank(self, inputs, minimum=rank + 1, what=f"{rank} spatial + features", fix=fix)
        check_feature_axis(
            self, inputs, axis=-1, size=self.in_features, name="in_features", fix=fix
        )
        x = as_array(inputs)
        batch_shape = x.shape[: x.ndim - rank - 1]
        x = jnp.reshape(x, (-1, *x.shape[x.ndim - rank - 1 :]))
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        channels_last = (0, rank + 1, *range(1, rank + 1))
        numbers = lax.ConvDimensionNumbers(
            lhs_spec=channels_last,
            rhs_spec=(rank + 1, rank, *range(rank)),
            out_spec=channels_last,
        )
        y = lax.conv_general_dilated(
            x,
            kernel,
            self.strides,
            self.padding,
            lhs_dilation=self.input_dilation,
            rhs_dilation=self.kernel_dilation,
            dimension_numbers=numbers,
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        if bias is not None:
            y = y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        return jnp.reshape(y, (*batch_shape, *y.shape[1:]))
