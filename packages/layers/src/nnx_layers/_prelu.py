"""PReLU: the leaky ReLU whose negative slope is a trained parameter.

Unlike the activations (``jax.nn`` functions), it owns state, so it is a layer: one
scalar ``Param`` named ``negative_slope``, built from a number rather than drawn from a
key, so it needs no ``rngs``. Without ``dtype`` the slope is cast to the input's dtype,
as Linen's PReLU does, so a bfloat16 activation stays bfloat16 and an int input gives
an int output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import NO_METADATA, check_metadata, make_param


class PReLU(Module):
    """``x`` where ``x >= 0``, else ``negative_slope * x``, with a learned ``negative_slope``.

    >>> import jax.numpy as jnp
    >>> act = PReLU(negative_slope_init=0.1)
    >>> act(jnp.array([-2.0, 3.0])).tolist()
    [-0.20000000298023224, 3.0]

    Args:
        negative_slope_init: the slope's initial value.
        dtype: the dtype of the computation; ``None`` computes in the input's dtype.
        param_dtype: the dtype the slope is stored in.
        promote_dtype: casts ``(inputs, negative_slope)`` to ``dtype`` when one is given.
        negative_slope_metadata: metadata of the ``negative_slope`` Param.
    """

    def __init__(
        self,
        negative_slope_init: float = 0.01,
        *,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        promote_dtype: PromoteDtype = default_promote_dtype,
        negative_slope_metadata: Mapping[str, Any] = NO_METADATA,
    ) -> None:
        check_metadata("nnx.PReLU", negative_slope_metadata=negative_slope_metadata)
        self.negative_slope = make_param(
            jnp.asarray(negative_slope_init, dtype=param_dtype), negative_slope_metadata
        )
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.promote_dtype = promote_dtype

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Apply the activation elementwise; the output has the computation dtype."""
        negative_slope = self.negative_slope[...]
        if self.dtype is None:
            negative_slope = jnp.asarray(negative_slope, jnp.result_type(inputs))
        else:
            inputs, negative_slope = self.promote_dtype((inputs, negative_slope), dtype=self.dtype)
        return jnp.where(inputs >= 0, inputs, negative_slope * inputs)
