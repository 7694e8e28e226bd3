"""``nnx.nn.dtypes``: the dtype helpers flax code imports from ``flax.nnx.nn.dtypes``.

``promote_dtype`` is the one every layer here uses; ``canonicalize_dtype`` answers the
question a custom layer asks first: which dtype will this computation run in.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from nnx_graph import message
from nnx_layers._dtypes import promote_dtype as promote_dtype

__all__ = ["canonicalize_dtype", "promote_dtype"]


def canonicalize_dtype(*args: Any, dtype: Any = None, inexact: bool = True) -> Any:
    """The dtype a computation on ``args`` runs in: ``dtype``, or their promoted type.

    Without ``dtype``, JAX's promotion of the arguments that are not None (Python
    scalars are weakly typed); with ``inexact`` an integer result is widened to a float.
    A given ``dtype`` comes back as it was given, after checking it is a float when
    ``inexact`` asks for one.

    >>> import jax.numpy as jnp
    >>> canonicalize_dtype(jnp.ones(2, jnp.int32)), canonicalize_dtype(3, 2.0)
    (dtype('float32'), dtype('float32'))
    >>> canonicalize_dtype(None, jnp.ones(2, jnp.bfloat16))
    dtype(bfloat16)
    """
    if dtype is None:
        dtype = jnp.result_type(*(a for a in args if a is not None))
        if inexact and not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.promote_types(jnp.float32, dtype)
        return dtype
    if inexact and not jnp.issubdtype(dtype, jnp.inexact):
        raise ValueError(
            message(
                f"canonicalize_dtype: dtype={dtype!r} must be inexact (a float or complex "
                "type), since inexact=True.",
                fix="canonicalize_dtype(..., dtype=jnp.float32)  # or inexact=False",
            )
        )
    return dtype
