"""Linear: the dense layer ``y = x @ kernel + bias``.

Parameters are stored in ``param_dtype`` and the product is computed in ``dtype`` (or
the common type of input and parameters), so ``dtype=jnp.bfloat16`` trains with float32
master weights. The contraction is over the last input axis only; every leading axis is a
batch axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import Module
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

default_kernel_init = lecun_normal()
default_bias_init = zeros_init()


class Linear(Module):
    """A dense layer: ``x @ kernel + bias`` over the last axis of ``x``.

    ``kernel`` has shape ``(in_features, out_features)`` and is drawn with
    ``kernel_init`` from one ``rngs.params()`` key; ``bias`` has shape
    ``(out_features,)`` and is drawn from a second key (zeros by default, but the key is
    drawn all the same, so the number of keys a model consumes does not depend on the
    initialisers chosen).

    ``dot_general`` replaces ``lax.dot_general`` (a quantised or sharded product, say),
    called with the same contraction and ``precision``; ``promote_dtype`` replaces the
    cast of ``(inputs, kernel, bias)`` to the computation dtype.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> layer = Linear(3, 4, rngs=Rngs(0))
    >>> layer.kernel.shape, layer.bias.shape, layer(jnp.ones((2, 3))).shape
    ((3, 4), (4,), (2, 4))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = True,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = default_bias_init,
        dot_general: Callable[..., jax.Array] = lax.dot_general,
        promote_dtype: PromoteDtype = default_promote_dtype,
        preferred_element_type: Any = None,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.Linear", kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
        self.kernel = make_param(
            kernel_init(rngs.params(), (in_features, out_features), param_dtype), kernel_metadata
        )
        self.bias: Param[jax.Array] | None = optional_param(
            use_bias, bias_init, rngs, (out_features,), param_dtype, bias_metadata
        )
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = use_bias
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        self.dot_general = dot_general
        self.promote_dtype = promote_dtype
        self.preferred_element_type = preferred_element_type

    def __call__(self, inputs: jax.Array, out_sharding: Any = None) -> jax.Array:
        """Apply the layer to ``inputs`` of shape ``(..., in_features)``.

        ``out_sharding`` (a ``PartitionSpec`` under an Explicit mesh) is the sharding of
        the product, handed to ``dot_general`` as flax 0.12 does.
        """
        fix = (
            f"pass inputs of shape (..., {self.in_features}), or build the layer as "
            f"{type(self).__name__}({_last(inputs)}, {self.out_features}, ...)"
        )
        check_rank(self, inputs, minimum=1, what="features last", fix=fix)
        check_feature_axis(
            self, inputs, axis=-1, size=self.in_features, name="in_features", fix=fix
        )
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype(
            (as_array(inputs), self.kernel[...], bias), dtype=self.dtype
        )
        extra = product_options(self.preferred_element_type, out_sharding)
        contract = (((x.ndim - 1,), (0,)), ((), ()))
        y = self.dot_general(x, kernel, contract, precision=self.precision, **extra)
        if bias is not None:
            y = y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        return y


def _last(x: Any) -> Any:
    shape = getattr(x, "shape", ())
    return shape[-1] if shape else "?"
