"""LoRA: a low-rank update ``x @ lora_a @ lora_b`` added to a layer's output.

Fine-tuning a large ``Linear`` by training only two thin matrices (``in x rank`` and
``rank x out``) needs a fraction of the memory and optimizer state. The matrices are
``LoRAParam``s, a kind of ``Param``, so ``nnx.split(model, LoRAParam, ...)`` or an
optimizer filtered on ``LoRAParam`` trains them alone while the base weights stay frozen.
``lora_b`` starts at zero, so a freshly wrapped model computes exactly what it did before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from nnx_graph import Module, Variable, describe, message
from nnx_layers._checks import as_array, check_feature_axis, check_rank
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._linear import Linear
from nnx_layers._params import NO_METADATA, check_metadata, make_param
from nnx_layers.initializers import Initializer, he_uniform, zeros
from nnx_variables import Param, Rngs

A = TypeVar("A")

default_a_initializer = he_uniform()
default_b_initializer = zeros


class LoRAParam(Param[A]):
    """The kind of LoRA's low-rank matrices: a Param that filters can single out.

    >>> import jax.numpy as jnp
    >>> isinstance(LoRAParam(jnp.zeros(2)), Param)
    True
    """


class LoRA(Module):
    """A standalone low-rank layer, optionally added to the output of ``base_module``.

    ``lora_a`` (``(in_features, lora_rank)``, he-uniform) and ``lora_b``
    (``(lora_rank, out_features)``, zeros) are drawn from two ``rngs.params()`` keys.
    With ``base_module`` the call returns ``base_module(x) + x @ lora_a @ lora_b``.
    ``promote_dtype`` casts ``(inputs, lora_a, lora_b)`` to the computation dtype.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> lora = LoRA(3, 2, 4, rngs=Rngs(0))
    >>> lora.lora_a.shape, lora.lora_b.shape, lora(jnp.ones((5, 3))).shape
    ((3, 2), (2, 4), (5, 4))
    """

    def __init__(
        self,
        in_features: int,
        lora_rank: int,
        out_features: int,
        *,
        base_module: Callable[..., Any] | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        a_initializer: Initializer = default_a_initializer,
        b_initializer: Initializer = default_b_initializer,
        lora_param_type: type[Variable[Any]] = LoRAParam,
        promote_dtype: PromoteDtype = default_promote_dtype,
        a_metadata: Mapping[str, Any] = NO_METADATA,
        b_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.LoRA", a_metadata=a_metadata, b_metadata=b_metadata)
        if base_module is not None and not callable(base_module):
            raise TypeError(
                message(
                    f"nnx.LoRA: base_module must be callable, got {describe(base_module)}.",
                    expected="the layer whose output LoRA adds to, e.g. an nnx.Linear",
                    fix="nnx.LoRA(din, rank, dout, base_module=linear, rngs=rngs)",
                )
            )
        a = a_initializer(rngs.params(), (in_features, lora_rank), param_dtype)
        self.lora_a = make_param(a, a_metadata, kind=lora_param_type)
        b = b_initializer(rngs.params(), (lora_rank, out_features), param_dtype)
        self.lora_b = make_param(b, b_metadata, kind=lora_param_type)
        self.in_features = in_features
        self.lora_rank = lora_rank
        self.out_features = out_features
        self.base_module = base_module
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.lora_param_type = lora_param_type
        self.promote_dtype = promote_dtype

    def __call__(self, x: jax.Array, **kwargs: Any) -> jax.Array:
        """``x @ lora_a @ lora_b``, plus ``base_module(x, **kwargs)`` when there is one."""
        fix = f"pass inputs of shape (..., {self.in_features})"
        check_rank(self, x, minimum=1, what="features last", fix=fix)
        check_feature_axis(self, x, axis=-1, size=self.in_features, name="in_features", fix=fix)
        inputs, lora_a, lora_b = self.promote_dtype(
            (as_array(x), self.lora_a[...], self.lora_b[...]), dtype=self.dtype
        )
        out: jax.Array = inputs @ lora_a @ lora_b
        if self.base_module is not None:
            out = out + self.base_module(x, **kwargs)
        return out


class LoRALinear(Linear):
    """A ``Linear`` whose output gets a low-rank update; its own state matches Linear's.

    ``kernel`` and ``bias`` are drawn first, exactly as ``Linear`` draws them, then
    ``lora`` (a ``LoRA``) draws its two matrices, so ``LoRALinear(..., rngs=Rngs(0))``
    has the same kernel as ``Linear(..., rngs=Rngs(0))``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> layer = LoRALinear(3, 4, lora_rank=2, rngs=Rngs(0))
    >>> bool(jnp.all(layer.kernel.value == Linear(3, 4, rngs=Rngs(0)).kernel.value))
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        lora_rank: int,
        lora_dtype: Any = None,
        lora_param_dtype: Any = jnp.float32,
        a_initializer: Initializer = default_a_initializer,
        b_initializer: Initializer = default_b_initializer,
        lora_param_type: type[Variable[Any]] = LoRAParam,
        lora_promote_dtype: PromoteDtype = default_promote_dtype,
        a_metadata: Mapping[str, Any] = NO_METADATA,
        b_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
        **kwargs: Any,
    ) -> None:
        check_metadata("nnx.LoRALinear", a_metadata=a_metadata, b_metadata=b_metadata)
        super().__init__(in_features, out_features, rngs=rngs, **kwargs)
        self.lora = LoRA(
            in_features,
            lora_rank,
            out_features,
            dtype=lora_dtype,
            param_dtype=lora_param_dtype,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            lora_param_type=lora_param_type,
            promote_dtype=lora_promote_dtype,
            a_metadata=a_metadata,
            b_metadata=b_metadata,
            rngs=rngs,
        )

    def __call__(self, inputs: jax.Array, out_sharding: Any = None) -> jax.Array:
        """The Linear output (its product sharded as ``out_sharding``) plus the update."""
        return super().__call__(inputs, out_sharding=out_sharding) + self.lora(inputs)
