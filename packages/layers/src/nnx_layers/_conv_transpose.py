"""ConvTranspose: the transposed (fractionally strided) convolution, ``lax.conv_transpose``.

As in flax, ``padding`` is not PyTorch's: ``'VALID'`` grows each spatial axis by
``dilation * (kernel - 1)`` (the inverse of a 'VALID' ``Conv``), ``'SAME'`` gives
``size * stride``, and ``'CIRCULAR'`` computes the 'VALID' result and wraps it onto
``size * stride`` with periodic boundaries. The kernel is
``(*kernel_size, in_features, out_features)``, or ``(*kernel_size, out_features,
in_features)`` with ``transpose_kernel=True`` (the gradient of a ``Conv`` with that kernel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import Module
from nnx_layers._checks import as_array, check_feature_axis, check_rank
from nnx_layers._conv import PaddingLike, canonical_padding, check_mask, per_axis
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import NO_METADATA, check_metadata, make_param, optional_param
from nnx_layers.initializers import Initializer, lecun_normal, zeros_init
from nnx_variables import Param, Rngs

OP = "nnx.ConvTranspose"


class ConvTranspose(Module):
    """A transposed convolution with a learned ``kernel`` and ``bias``, channels last.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> layer = ConvTranspose(3, 4, (3,), strides=2, padding='VALID', rngs=Rngs(0))
    >>> layer.kernel.shape, layer(jnp.ones((1, 8, 3))).shape
    ((3, 3, 4), (1, 17, 4))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        *,
        padding: PaddingLike = "SAME",
        kernel_dilation: int | Sequence[int] | None = None,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = lecun_normal(),  # noqa: B008  (pure function)
        bias_init: Initializer = zeros_init(),  # noqa: B008
        transpose_kernel: bool = False,
        promote_dtype: PromoteDtype = default_promote_dtype,
        preferred_element_type: Any = None,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata(OP, kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
        size = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
        rank = len(size)
        # Validate every argument before drawing keys, so a failed build leaves rngs alone.
        self.strides = per_axis(strides, rank, "strides", OP)
        self.kernel_dilation = per_axis(kernel_dilation, rank, "kernel_dilation", OP)
        self.padding = canonical_padding(padding, rank, OP)
        channels = (out_features, in_features) if transpose_kernel else (in_features, out_features)
        kernel_shape = (*size, *channels)
        check_mask(OP, mask, kernel_shape)
        self.kernel = make_param(
            kernel_init(rngs.params(), kernel_shape, param_dtype), kernel_metadata
        )
        self.bias: Param[jax.Array] | None = optional_param(
            use_bias, bias_init, rngs, (out_features,), param_dtype, bias_metadata
        )
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = size
        self.use_bias = use_bias
        self.mask = mask
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        self.transpose_kernel = transpose_kernel
        self.promote_dtype = promote_dtype
        self.preferred_element_type = preferred_element_type

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Transpose-convolve ``inputs`` of shape ``(*batch, *spatial, in_features)``."""
        rank = len(self.kernel_size)
        fix = f"pass inputs of shape (batch, {', '.join(['size'] * rank)}, {self.in_features})"
        check_rank(self, inputs, minimum=rank + 1, what=f"{rank} spatial + features", fix=fix)
        check_feature_axis(
            self, inputs, axis=-1, size=self.in_features, name="in_features", fix=fix
        )
        x = as_array(inputs)
        batch_shape = x.shape[: x.ndim - rank - 1]
        x = jnp.reshape(x, (-1, *x.shape[x.ndim - rank - 1 :]))
        kernel = self.kernel[...]
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype((x, kernel, bias), dtype=self.dtype)
        circular = self.padding == "CIRCULAR"
        y = lax.conv_transpose(
            x,
            kernel,
            self.strides,
            "VALID" if circular else self.padding,
            rhs_dilation=self.kernel_dilation,
            transpose_kernel=self.transpose_kernel,
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )
        if circular:
            y = self._wrap(
                y, tuple(s * n for s, n in zip(self.strides, x.shape[1:-1], strict=True))
            )
        if bias is not None:
            y = y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        return jnp.reshape(y, (*batch_shape, *y.shape[1:]))

    def _wrap(self, y: jax.Array, target: tuple[int, ...]) -> jax.Array:
        """Fold the 'VALID' output onto ``target`` sizes with periodic boundaries.

        Pad each axis up to a multiple of its target size (centred the way flax centres
        it, which depends on ``transpose_kernel``), then sum the periods.
        """
        diffs = [-(n - t) % (2 * t) for n, t in zip(y.shape[1:-1], target, strict=True)]
        if self.transpose_kernel:
            pads = [(d // 2, (d + 1) // 2) for d in diffs]
        else:
            pads = [((d + 1) // 2, d // 2) for d in diffs]
        y = jnp.pad(y, [(0, 0), *pads, (0, 0)])
        for i, t in enumerate(target, start=1):
            y = y.reshape((*y.shape[:i], -1, t, *y.shape[i + 1 :])).sum(axis=i)
        return y
