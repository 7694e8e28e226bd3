"""LinearGeneral and Einsum: dense maps over several axes at once.

Attention projects ``(..., features)`` to ``(..., heads, head_dim)`` and back; writing
that as a ``Linear`` plus reshapes would store the kernel flattened, so a model ported
from flax would have other parameter shapes. ``LinearGeneral`` keeps the kernel as
``(*batch, *in_features, *out_features)`` and contracts with one ``lax.dot_general``;
``Einsum`` takes the contraction as an einsum string.

The kernel is drawn as the 2-d matrix ``(prod(batch + in), prod(out))`` and reshaped, so
fan-in scaled initialisers see the true fan-in and the values equal flax's from one seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import LayerInputError, Module
from nnx_layers._checks import as_array, check_array
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import NO_METADATA, check_metadata, make_param, product_options
from nnx_layers.initializers import Initializer, lecun_normal, zeros_init
from nnx_variables import Param, Rngs

default_kernel_init = lecun_normal()
default_bias_init = zeros_init()


def _as_tuple(x: int | Sequence[int]) -> tuple[int, ...]:
    return (x,) if isinstance(x, int) else tuple(x)


class LinearGeneral(Module):
    """A dense map contracting the input ``axis`` (one or several) with a kernel.

    ``kernel`` has shape ``(*batch_sizes, *in_features, *out_features)``, ``bias``
    ``(*batch_sizes, *out_features)``. ``batch_axis`` maps leading input axes to their
    sizes; those axes get their own kernel each (a batched matmul). The output keeps the
    input's other axes in order and appends ``out_features``.

    ``dot_general`` replaces ``lax.dot_general``; ``dot_general_cls``, a class whose
    instances are such a function, wins over it and is instantiated on each call.
    ``promote_dtype`` replaces the cast of ``(inputs, kernel, bias)`` to ``dtype``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> layer = LinearGeneral(6, (2, 3), rngs=Rngs(0))   # features -> (heads, head_dim)
    >>> layer.kernel.shape, layer(jnp.ones((4, 6))).shape
    ((6, 2, 3), (4, 2, 3))
    """

    def __init__(
        self,
        in_features: int | Sequence[int],
        out_features: int | Sequence[int],
        *,
        axis: int | Sequence[int] = -1,
        batch_axis: Mapping[int, int] | None = None,
        use_bias: bool = True,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = default_bias_init,
        precision: Any = None,
        promote_dtype: PromoteDtype = default_promote_dtype,
        dot_general: Callable[..., jax.Array] | None = None,
        dot_general_cls: Callable[[], Callable[..., jax.Array]] | None = None,
        preferred_element_type: Any = None,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata(
            "nnx.LinearGeneral", kernel_metadata=kernel_metadata, bias_metadata=bias_metadata
        )
        self.in_features = _as_tuple(in_features)
        self.out_features = _as_tuple(out_features)
        self.axis = _as_tuple(axis)
        batch = dict(batch_axis or {})
        if len(self.in_features) != len(self.axis):
            raise ValueError(
                f"nnx.LinearGeneral: in_features {self.in_features} and axis {self.axis} "
                "must have the same length (one size per contracted axis).\n"
                f"Fix: LinearGeneral({self.in_features}, ..., "
                f"axis={tuple(range(-len(self.in_features), 0))})"
            )
        if batch and sorted(batch) != list(range(len(batch))):
            raise ValueError(
                f"nnx.LinearGeneral: batch_axis keys {sorted(batch)} must be the leading "
                f"axes 0..{len(batch) - 1}.\nFix: batch_axis={{0: size, 1: size, ...}}"
            )
        self.batch_axis = tuple(sorted(batch.items()))
        batch_shape = tuple(size for _, size in self.batch_axis)
        shape = (*batch_shape, *self.in_features, *self.out_features)
        flat = (math.prod(shape[: -len(self.out_features)]), math.prod(self.out_features))
        kernel = kernel_init(rngs.params(), flat, param_dtype)
        self.kernel = make_param(kernel, kernel_metadata, shape=shape)
        bias_shape = (*batch_shape, *self.out_features)
        self.bias: Param[jax.Array] | None = None
        if use_bias:
            bias = bias_init(rngs.params(), (math.prod(bias_shape),), param_dtype)
            self.bias = make_param(bias, bias_metadata, shape=bias_shape)
        self.use_bias = use_bias
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        self.promote_dtype = promote_dtype
        self.dot_general = dot_general
        self.dot_general_cls = dot_general_cls
        self.preferred_element_type = preferred_element_type

    def __call__(self, inputs: jax.Array, out_sharding: Any = None) -> jax.Array:
        """Contract ``inputs`` over ``axis`` (and batch over ``batch_axis``).

        ``out_sharding`` is the sharding of the product, handed to ``dot_general``.
        """
        check_array(self, inputs)
        x = as_array(inputs)
        axis = tuple(a % x.ndim if -x.ndim <= a < x.ndim else a for a in self.axis)
        got = tuple(x.shape[a] if 0 <= a < x.ndim else None for a in axis)
        if got != self.in_features:
            raise LayerInputError(
                self,
                f"expected input axes {self.axis} of sizes {self.in_features} (in_features), "
                f"got shape {x.shape}",
                fix=f"pass inputs whose axes {self.axis} have sizes {self.in_features}",
            )
        n_batch = len(self.batch_axis)
        batch_axes = tuple(range(n_batch))
        contract = tuple(range(n_batch, n_batch + len(axis)))
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        dot = self._dot_general()
        extra = product_options(self.preferred_element_type, out_sharding)
        y = dot(
            x,
            kernel,
            ((axis, contract), (batch_axes, batch_axes)),
            precision=self.precision,
            **extra,
        )
        if bias is not None:
            kept = [i for i in range(x.ndim) if i not in axis]
            lead = tuple(x.shape[i] if i < n_batch else 1 for i in kept)
            y = y + jnp.reshape(bias, (*lead, *self.out_features))
        return y

    def _dot_general(self) -> Callable[..., jax.Array]:
        """The product to call: a fresh ``dot_general_cls()``, else ``dot_general``.

        The class is instantiated on every call, as flax does, so a stateful product
        (a quantiser that counts its calls, say) starts afresh each time.
        """
        if self.dot_general_cls is not None:
            return self.dot_general_cls()
        return lax.dot_general if self.dot_general is None else self.dot_general


class Einsum(Module):
    """A learned ``jnp.einsum(einsum_str, inputs, kernel) + bias``.

    The string names two operands, the input then the kernel, and the output
    explicitly (``'btd,dnh->btnh'``). ``bias`` (if ``bias_shape`` is given) is added along
    the output axes that come from the kernel.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> layer = Einsum('btd,dnh->btnh', (4, 2, 3), (2, 3), rngs=Rngs(0))
    >>> layer(jnp.ones((5, 7, 4))).shape
    (5, 7, 2, 3)
    """

    def __init__(
        self,
        einsum_str: str,
        kernel_shape: Sequence[int],
        bias_shape: Sequence[int] | None = None,
        *,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = default_bias_init,
        promote_dtype: PromoteDtype = default_promote_dtype,
        einsum_op: Callable[..., jax.Array] = jnp.einsum,
        preferred_element_type: Any = None,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        einsum_str = _check_einsum(einsum_str)
        check_metadata("nnx.Einsum", kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
        kernel = kernel_init(rngs.params(), tuple(kernel_shape), param_dtype)
        self.kernel = make_param(kernel, kernel_metadata)
        self.bias: Param[jax.Array] | None = None
        if bias_shape is not None:
            bias = bias_init(rngs.params(), tuple(bias_shape), param_dtype)
            self.bias = make_param(bias, bias_metadata)
        self.einsum_str = einsum_str
        self.kernel_shape = tuple(kernel_shape)
        self.bias_shape = None if bias_shape is None else tuple(bias_shape)
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        self.promote_dtype = promote_dtype
        self.einsum_op = einsum_op
        self.preferred_element_type = preferred_element_type

    def __call__(
        self, inputs: jax.Array, einsum_str: str | None = None, out_sharding: Any = None
    ) -> jax.Array:
        """Apply the einsum (``einsum_str`` here overrides the stored one).

        ``out_sharding`` is the sharding of the product, handed to ``einsum_op``.
        """
        spec = self.einsum_str if einsum_str is None else _check_einsum(einsum_str)
        check_array(self, inputs)
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype(
            (as_array(inputs), self.kernel[...], bias), dtype=self.dtype
        )
        extra = product_options(self.preferred_element_type, out_sharding)
        y = self.einsum_op(spec, x, kernel, precision=self.precision, **extra)
        if bias is not None:
            y = y + jnp.reshape(bias, _bias_shape(spec, self.kernel_shape, y.ndim))
        return y


def _check_einsum(einsum_str: str) -> str:
    spec = einsum_str.replace(" ", "")
    if "->" not in spec or spec.count(",") != 1:
        raise ValueError(
            f"nnx.Einsum: einsum_str {einsum_str!r} must name exactly two operands (the "
            "input, then the kernel) and the output explicitly.\n"
            "Fix: Einsum('btd,dh->bth', kernel_shape, ...)"
        )
    return spec


def _bias_shape(spec: str, kernel_shape: tuple[int, ...], out_ndim: int) -> tuple[int, ...]:
    """The bias's shape broadcast against the output.

    Kernel sizes where the kernel's letters appear, 1 elsewhere (an ellipsis stands for the
    axes the output has beyond its letters).
    """
    operands, output = spec.split("->")
    sizes = dict(zip(operands.split(",")[1], kernel_shape, strict=False))
    shape: list[int] = []
    for part_index, part in enumerate(output.split("...")):
        if part_index:
            shape.extend([1] * (out_ndim - (len(output) - 3)))
        shape.extend(sizes.get(c, 1) for c in part)
    return tuple(shape)
