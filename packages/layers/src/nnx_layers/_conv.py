"""Conv: an N-dimensional convolution over channels-last inputs.

Inputs are ``(*batch, *spatial, in_features)`` (NHWC for images); the kernel is
``(*kernel_size, in_features // feature_group_count, out_features)``. Several leading
batch axes are flattened into one for ``lax.conv_general_dilated`` and restored after,
and an input without a batch axis gets one for the duration of the call.

Besides lax's own paddings, ``'CIRCULAR'`` and ``'REFLECT'`` pad the input by wrapping
or mirroring it (half the dilated kernel on each side, so the output keeps the input's
size at stride 1) and ``'CAUSAL'`` (1-d only) pads only on the left, so output ``t``
sees inputs up to ``t``. ``mask`` multiplies the kernel on every call, for masked
(e.g. autoregressive) convolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import Module, describe, message
from nnx_layers._checks import as_array, check_feature_axis, check_rank
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import (
    NO_METADATA,
    check_metadata,
    make_param,
    optional_param,
    product_options,
)
from nnx_layers.initializers import Initializer, lecun_normal, zeros_init
from nnx_variables import Param, Rngs

PaddingLike: TypeAlias = str | int | Sequence[int | tuple[int, int]]
LaxPadding: TypeAlias = str | tuple[tuple[int, int], ...]

default_kernel_init = lecun_normal()
default_bias_init = zeros_init()


def canonical_padding(padding: PaddingLike, rank: int, op: str = "nnx.Conv") -> LaxPadding:
    """``padding`` in the form ``lax.conv_general_dilated`` takes.

    A string (``'SAME'``, ``'VALID'``, ``'CIRCULAR'``, ``'REFLECT'``, ``'CAUSAL'``) passes
    through; an int pads every spatial axis by that much on both sides; a sequence gives
    one int or ``(low, high)`` pair per axis.

    >>> canonical_padding(1, 2)
    ((1, 1), (1, 1))
    >>> canonical_padding([0, (1, 2)], 2)
    ((0, 0), (1, 2))
    """
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID", "SAME_LOWER", "CIRCULAR", "REFLECT", "CAUSAL"):
            return padding.upper()
    elif isinstance(padding, int):
        return ((padding, padding),) * rank
    elif isinstance(padding, Sequence) and len(padding) == rank:
        pairs = [_pair(p) for p in padding]
        if all(pair is not None for pair in pairs):
            return tuple(pair for pair in pairs if pair is not None)
    raise ValueError(
        message(
            f"{op}: invalid padding {padding!r} for a {rank}-d convolution.",
            expected=f"'SAME', 'VALID', 'CIRCULAR', 'REFLECT', 'CAUSAL', an int, or {rank} "
            "ints or (low, high) pairs",
            fix=f"{op}(..., padding='SAME')",
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


def per_axis(
    value: int | Sequence[int] | None, rank: int, name: str, op: str = "nnx.Conv"
) -> tuple[int, ...]:
    if value is None:
        return (1,) * rank
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(value)
    if len(values) != rank:
        raise ValueError(
            message(
                f"{op}: {name}={values!r} has {len(values)} entries for a {rank}-d convolution.",
                expected=f"an int or {rank} ints, one per spatial axis",
                fix=f"{op}(..., {name}={values[0] if values else 1})",
            )
        )
    return values


def check_mask(op: str, mask: jax.Array | None, kernel_shape: tuple[int, ...]) -> None:
    """Raise unless ``mask`` (if any) has the kernel's shape."""
    if mask is not None and tuple(mask.shape) != kernel_shape:
        raise ValueError(
            message(
                f"{op}: mask {describe(mask)} does not match the kernel.",
                expected=f"a mask of the kernel's shape {kernel_shape}",
                fix=f"{op}(..., mask=jnp.ones({kernel_shape}))",
            )
        )


def pad_input(
    x: jax.Array, padding: LaxPadding, size: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[jax.Array, LaxPadding]:
    """Apply the paddings lax lacks to ``x`` (batch, *spatial, features) and return 'VALID'."""
    if padding in ("CIRCULAR", "REFLECT"):
        dilated = [(k - 1) * d + 1 for k, d in zip(size, dilation, strict=True)]
        pads = [(0, 0), *[((k - 1) // 2, k // 2) for k in dilated], (0, 0)]
        mode = "wrap" if padding == "CIRCULAR" else "reflect"
        return jnp.pad(x, pads, mode=mode), "VALID"
    if padding == "CAUSAL":
        return jnp.pad(x, [(0, 0), (dilation[0] * (size[0] - 1), 0), (0, 0)]), "VALID"
    return x, padding


class Conv(Module):
    """A convolution with a learned ``kernel`` and ``bias`` over channels-last inputs.

    ``padding`` is ``'SAME'`` (output spatial size ``ceil(size / stride)``), ``'VALID'``
    (no padding), an int, or per-axis ints / pairs. ``feature_group_count`` splits the
    channels into groups convolved separately (``in_features`` for a depthwise conv).
    ``'CIRCULAR'``, ``'REFLECT'`` and ``'CAUSAL'`` paddings and ``mask`` are described in
    the module docstring.

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
        mask: jax.Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = default_bias_init,
        conv_general_dilated: Callable[..., jax.Array] = lax.conv_general_dilated,
        promote_dtype: PromoteDtype = default_promote_dtype,
        preferred_element_type: Any = None,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.Conv", kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
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
        self.strides = per_axis(strides, rank, "strides")
        self.input_dilation = per_axis(input_dilation, rank, "input_dilation")
        self.kernel_dilation = per_axis(kernel_dilation, rank, "kernel_dilation")
        self.padding = canonical_padding(padding, rank)
        if self.padding == "CAUSAL" and rank != 1:
            raise ValueError(
                message(
                    f"nnx.Conv: padding='CAUSAL' is only defined for 1-d convolutions, "
                    f"got kernel_size={size}.",
                    expected="a kernel_size of one axis, or another padding",
                    fix=f"nnx.Conv(..., kernel_size={size}, padding='SAME')",
                )
            )
        kernel_shape = (*size, in_features // feature_group_count, out_features)
        check_mask("nnx.Conv", mask, kernel_shape)
        self.kernel = make_param(
            kernel_init(rngs.params(), kernel_shape, param_dtype), kernel_metadata
        )
        self.bias: Param[jax.Array] | None = optional_param(
            use_bias, bias_init, rngs, (out_features,), param_dtype, bias_metadata
        )
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = size
        self.feature_group_count = feature_group_count
        self.use_bias = use_bias
        self.mask = mask
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        self.conv_general_dilated = conv_general_dilated
        self.promote_dtype = promote_dtype
        self.preferred_element_type = preferred_element_type

    def __call__(self, inputs: jax.Array, out_sharding: Any = None) -> jax.Array:
        """Convolve ``inputs`` of shape ``(*batch, *spatial, in_features)``.

        ``out_sharding`` (a ``PartitionSpec`` under an Explicit mesh) is the sharding of
        the output. With one batch axis it goes to the convolution itself, as in flax;
        with several (which the convolution sees flattened into one) the output is
        resharded to it instead.
        """
        rank = len(self.kernel_size)
        fix = f"pass inputs of shape (batch, {', '.join(['size'] * rank)}, {self.in_features})"
        check_rank(self, inputs, minimum=rank + 1, what=f"{rank} spatial + features", fix=fix)
        check_feature_axis(
            self, inputs, axis=-1, size=self.in_features, name="in_features", fix=fix
        )
        x = as_array(inputs)
        batch_shape = x.shape[: x.ndim - rank - 1]
        x = jnp.reshape(x, (-1, *x.shape[x.ndim - rank - 1 :]))
        x, padding = pad_input(x, self.padding, self.kernel_size, self.kernel_dilation)
        kernel = self.kernel[...]
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype((x, kernel, bias), dtype=self.dtype)
        channels_last = (0, rank + 1, *range(1, rank + 1))
        numbers = lax.ConvDimensionNumbers(
            lhs_spec=channels_last,
            rhs_spec=(rank + 1, rank, *range(rank)),
            out_spec=channels_last,
        )
        one_batch_axis = len(batch_shape) == 1
        extra = product_options(
            self.preferred_element_type, out_sharding if one_batch_axis else None
        )
        y = self.conv_general_dilated(
            x,
            kernel,
            self.strides,
            padding,
            lhs_dilation=self.input_dilation,
            rhs_dilation=self.kernel_dilation,
            dimension_numbers=numbers,
            feature_group_count=self.feature_group_count,
            precision=self.precision,
            **extra,
        )
        if bias is not None:
            y = y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        y = jnp.reshape(y, (*batch_shape, *y.shape[1:]))
        if out_sharding is not None and not one_batch_axis:
            y = jax.sharding.reshard(y, out_sharding)  # type: ignore[no-untyped-call]  # jax: unannotated
        return y
