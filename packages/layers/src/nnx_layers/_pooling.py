"""Pooling: reduce each window of the spatial axes of ``(*batch, *spatial, features)``.

The same functions as flax (``flax.linen.pooling``, which flax.nnx re-exports): the
window covers ``len(window_shape)`` axes before the trailing feature axis, every axis in
front of those is a batch axis (none is fine: an unbatched input), and ``padding`` is
``'VALID'``, ``'SAME'`` or one ``(low, high)`` pair per window axis. Padding counts as
the reduction's identity (``-inf`` for max, ``0`` for the sum behind ``avg_pool``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nnx_graph import describe, message

Padding = str | Sequence[tuple[int, int]]


def _check(
    op: str,
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None,
    padding: Padding,
) -> None:
    problems = []
    if inputs.ndim < len(window_shape) + 1:
        problems.append(
            f"inputs: {describe(inputs)} has {inputs.ndim} axes, fewer than the "
            f"{len(window_shape)} window axes plus a feature axis"
        )
    if strides is not None and len(strides) != len(window_shape):
        problems.append(f"strides={tuple(strides)} has {len(strides)} entries")
    if not isinstance(padding, str) and (
        len(padding) != len(window_shape) or any(len(p) != 2 for p in padding)
    ):
        problems.append(f"padding={tuple(map(tuple, padding))}")
    if problems:
        raise ValueError(
            message(
                f"{op}: window_shape={tuple(window_shape)} does not fit the other arguments.",
                problems,
                expected="inputs (*batch, *window axes, features), one stride and one "
                "(low, high) padding pair per window axis",
                fix=f"{op}(x, window_shape=(2, 2), strides=(2, 2), padding='VALID')",
            )
        )


def pool(
    inputs: jax.Array,
    init: Any,
    reduce_fn: Callable[[Any, Any], Any],
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """Reduce every window with ``reduce_fn`` starting from ``init`` (``lax.reduce_window``).

    >>> import jax.numpy as jnp
    >>> from jax import lax
    >>> x = jnp.arange(8.0).reshape(1, 4, 2)
    >>> pool(x, 0.0, lax.add, (2,), (2,))[0].tolist()
    [[2.0, 4.0], [10.0, 12.0]]
    """
    window_shape = tuple(window_shape)
    _check("nnx.pool", inputs, window_shape, strides, padding)
    num_batch = inputs.ndim - len(window_shape) - 1
    unbatched = num_batch == 0
    if unbatched:
        inputs = inputs[None]
        num_batch = 1
    step = tuple(strides) if strides is not None else (1,) * len(window_shape)
    dims = (1,) * num_batch + window_shape + (1,)
    all_strides = (1,) * num_batch + step + (1,)
    pads: Any = padding
    if not isinstance(padding, str):
        pads = ((0, 0),) * num_batch + tuple((lo, hi) for lo, hi in padding) + ((0, 0),)
    if not isinstance(init, jax.Array):
        # A numpy scalar, not jnp.asarray: under jit that would be a tracer, and
        # reduce_window only recognises max/min/add with a concrete identity as the
        # monoid it knows how to differentiate (otherwise grad fails to linearize).
        init = np.asarray(init, inputs.dtype)
    y: jax.Array = lax.reduce_window(inputs, init, reduce_fn, dims, all_strides, pads)
    return y[0] if unbatched else y


def _lowest(dtype: Any) -> Any:
    return -jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else np.iinfo(dtype).min


def _highest(dtype: Any) -> Any:
    return jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else np.iinfo(dtype).max


def avg_pool(
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
) -> jax.Array:
    """The mean of each window; ``count_include_pad=False`` divides by the real elements only.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(4.0).reshape(1, 4, 1)
    >>> avg_pool(x, (2,), padding=((0, 1),), count_include_pad=False)[0, :, 0].tolist()
    [0.5, 1.5, 2.5, 3.0]
    """
    y = pool(inputs, 0, lax.add, window_shape, strides, padding)
    if count_include_pad:
        return y / np.prod(window_shape)
    # Count the real elements under each window by pooling ones of the input's spatial
    # shape; batch and feature axes are size 1 and broadcast, as in flax.
    div_shape = (*inputs.shape[:-1], 1)
    if len(div_shape) - 2 == len(window_shape):
        div_shape = (1, *div_shape[1:])
    return y / pool(jnp.ones(div_shape, y.dtype), 0, lax.add, window_shape, strides, padding)


def max_pool(
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """The maximum of each window.

    >>> import jax.numpy as jnp
    >>> max_pool(jnp.array([[[1.0], [3.0], [2.0]]]), (2,))[0, :, 0].tolist()
    [3.0, 3.0]
    """
    return pool(inputs, _lowest(inputs.dtype), lax.max, window_shape, strides, padding)


def min_pool(
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """The minimum of each window.

    >>> import jax.numpy as jnp
    >>> min_pool(jnp.array([[[1.0], [3.0], [2.0]]]), (2,))[0, :, 0].tolist()
    [1.0, 2.0]
    """
    return pool(inputs, _highest(inputs.dtype), lax.min, window_shape, strides, padding)
