"""Input checks shared by the layers, raising errors that name the offending layer.

A layer checks its input before computing anything and raises ``LayerInputError``; the
Module call hook in nnx-graph then prefixes the attribute path of the layer, so a user
reads ``model.linear1 (Linear): expected input with last dimension 3 (in_features),
got shape (5, 4)`` instead of a shape error from deep inside ``lax.dot_general``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import LayerInputError, describe


def check_feature_axis(
    layer: Any,
    x: Any,
    *,
    axis: int,
    size: int,
    name: str,
    fix: str,
) -> None:
    """Raise unless ``x.shape[axis] == size``; ``name`` is the layer attribute giving ``size``.

    >>> import jax.numpy as jnp
    >>> check_feature_axis(object(), jnp.ones((2, 3)), axis=-1, size=3, name='n', fix='')
    >>> check_feature_axis(object(), jnp.ones((2, 4)), axis=-1, size=3, name='n', fix='')
    Traceback (most recent call last):
    ...
    nnx_graph._errors.LayerInputError: object: expected ... 3 (n), got shape (2, 4)
    """
    shape = _shape_of(layer, x)
    in_range = -len(shape) <= axis < len(shape)
    if in_range and shape[axis] == size:
        return
    where = "last dimension" if axis == -1 else f"dimension {axis}"
    raise LayerInputError(
        layer,
        f"expected input with {where} {size} ({name}), got shape {shape}",
        fix=fix,
    )


def check_feature_axes(
    layer: Any,
    x: Any,
    *,
    axes: int | tuple[int, ...],
    size: int,
    name: str,
    fix: str,
) -> None:
    """Raise unless the dimensions ``axes`` of ``x`` together hold ``size`` features.

    One axis is checked with :func:`check_feature_axis`; several axes (a BatchNorm over
    ``axis=(1, 2)``) must multiply to ``size``.
    """
    if isinstance(axes, int) or len(axes) == 1:
        axis = axes if isinstance(axes, int) else axes[0]
        check_feature_axis(layer, x, axis=axis, size=size, name=name, fix=fix)
        return
    shape = _shape_of(layer, x)
    if all(-len(shape) <= a < len(shape) for a in axes):
        total = 1
        for a in axes:
            total *= shape[a]
        if total == size:
            return
    raise LayerInputError(
        layer,
        f"expected input whose dimensions {axes} hold {size} features ({name}) in all, "
        f"got shape {shape}",
        fix=fix,
    )


def check_rank(layer: Any, x: Any, *, minimum: int, what: str, fix: str) -> None:
    """Raise unless ``x`` has at least ``minimum`` dimensions (``what`` says which ones)."""
    shape = _shape_of(layer, x)
    if len(shape) < minimum:
        raise LayerInputError(
            layer,
            f"expected input with at least {minimum} dimensions ({what}), got shape {shape}",
            fix=fix,
        )


def check_array(layer: Any, x: Any) -> None:
    """Raise unless ``x`` is a numeric array or a scalar.

    Layers that do not otherwise check their input's shape call this first, so a string
    or a list is named with the layer's path instead of failing inside ``jnp``.

    >>> check_array(object(), 'abc')
    Traceback (most recent call last):
    ...
    nnx_graph._errors.LayerInputError: object: expected an array input, got 'abc'
    Fix: pass a jax.Array, e.g. layer(jnp.asarray(x))
    """
    _shape_of(layer, x)


def check_integer(layer: Any, x: Any, *, fix: str) -> None:
    """Raise unless ``x`` holds integers (indices into a table)."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise LayerInputError(
            layer,
            f"expected integer indices, got {describe(x)}",
            fix=fix,
        )


# numpy dtype kinds that hold no numbers: objects, bytes, strings, datetimes, timedeltas.
_NON_NUMERIC_KINDS = frozenset("OSUMm")


def _shape_of(layer: Any, x: Any) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    if isinstance(shape, tuple):
        if getattr(getattr(x, "dtype", None), "kind", None) in _NON_NUMERIC_KINDS:
            raise LayerInputError(
                layer,
                f"expected a numeric array input, got {describe(x)}",
                fix="pass numbers, e.g. layer(jnp.asarray(x, jnp.float32))",
            )
        return shape
    if isinstance(x, int | float | complex | bool):
        return ()
    raise LayerInputError(
        layer,
        f"expected an array input, got {describe(x)}",
        fix="pass a jax.Array, e.g. layer(jnp.asarray(x))",
    )


def as_array(x: Any) -> jax.Array:
    """``x`` as a jax.Array (Variables and numpy arrays included)."""
    return jnp.asarray(x)
