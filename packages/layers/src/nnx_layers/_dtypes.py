"""Dtype promotion shared by the layers: compute in one dtype, keep parameters in another.

A layer's ``param_dtype`` is what its parameters are stored in (float32 by default, so
optimizer updates do not lose precision); its ``dtype`` is what the computation runs in.
``dtype=jnp.bfloat16`` therefore means "cast inputs and parameters to bfloat16 at call
time", while the stored parameters stay float32.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp


class PromoteDtype(Protocol):
    """Casts ``(inputs, kernel, bias)`` to the computation dtype (``dtype=None``: infer).

    ``inexact=False`` is passed by ``Embed`` alone, whose table may hold integers.
    """

    def __call__(
        self, arrays: tuple[Any, ...], /, *, dtype: Any = None, inexact: bool = True
    ) -> tuple[Any, ...]: ...


def promote_dtype(
    arrays: tuple[Any, ...], *, dtype: Any = None, inexact: bool = True
) -> tuple[Any, ...]:
    """Cast every array (``None`` entries pass through) to ``dtype`` or their common type.

    With ``dtype=None`` the common type is JAX's promotion of all the arrays, so an int
    input meeting float32 parameters computes in float32. ``inexact=False`` allows an
    integer result (an embedding table may hold ints).

    >>> import jax.numpy as jnp
    >>> x, w = promote_dtype((jnp.ones(2, jnp.int32), jnp.ones(2, jnp.float32)))
    >>> x.dtype, w.dtype
    (dtype('float32'), dtype('float32'))
    >>> promote_dtype((jnp.ones(2), None), dtype=jnp.bfloat16)[0].dtype
    dtype(bfloat16)
    """
    present = [a for a in arrays if a is not None]
    if dtype is None:
        dtype = jnp.result_type(*present)
    if inexact and not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.promote_types(dtype, jnp.float32)
    return tuple(None if a is None else jnp.asarray(a, dtype) for a in arrays)


def statistics_dtype(x: jax.Array, dtype: Any) -> Any:
    """The dtype normalisation statistics are computed in: at least float32.

    Means and variances of bfloat16 activations lose most of their digits when summed in
    bfloat16, so statistics are always computed in float32 or wider.

    >>> import jax.numpy as jnp
    >>> statistics_dtype(jnp.ones(2, jnp.bfloat16), None)
    dtype('float32')
    """
    return jnp.promote_types(jnp.result_type(x) if dtype is None else dtype, jnp.float32)
