"""Initializers: JAX's own, under the names users of the reference API know.

Every initializer is a function ``init(key, shape, dtype) -> Array``. They are
``jax.nn.initializers`` re-exported unchanged (so numerics match JAX exactly), plus
``zeros_init()`` and ``ones_init()``, the factory spellings the reference API also offers.
``Initializer`` is the type of an initializer argument: JAX's protocol, or any callable,
so a hand-written ``lambda key, shape, dtype: ...`` type-checks where JAX's do.

>>> import jax, jax.numpy as jnp
>>> from nnx_layers import initializers
>>> initializers.lecun_normal()(jax.random.key(0), (2, 3), jnp.float32).shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import jax
from jax.nn.initializers import constant as constant
from jax.nn.initializers import delta_orthogonal as delta_orthogonal
from jax.nn.initializers import glorot_normal as glorot_normal
from jax.nn.initializers import glorot_uniform as glorot_uniform
from jax.nn.initializers import he_normal as he_normal
from jax.nn.initializers import he_uniform as he_uniform
from jax.nn.initializers import kaiming_normal as kaiming_normal
from jax.nn.initializers import kaiming_uniform as kaiming_uniform
from jax.nn.initializers import lecun_normal as lecun_normal
from jax.nn.initializers import lecun_uniform as lecun_uniform
from jax.nn.initializers import normal as normal
from jax.nn.initializers import ones as ones
from jax.nn.initializers import orthogonal as orthogonal
from jax.nn.initializers import truncated_normal as truncated_normal
from jax.nn.initializers import uniform as uniform
from jax.nn.initializers import variance_scaling as variance_scaling
from jax.nn.initializers import xavier_normal as xavier_normal
from jax.nn.initializers import xavier_uniform as xavier_uniform
from jax.nn.initializers import zeros as zeros

# Union rather than ``|``: ``jax.nn.initializers.Initializer`` is a Protocol class, and
# the printed alias then reads as flax's does (``typing.Union[...]``).
Initializer = Union[jax.nn.initializers.Initializer, Callable[..., Any]]  # noqa: UP007
"""An initializer: ``init(key, shape, dtype) -> Array``, JAX's protocol or any callable.

It is a typing alias, for annotating arguments such as ``kernel_init``; it accepts JAX's
initializers and a user's own function alike, as the reference API's alias does.
"""


def zeros_init() -> Initializer:
    """The initializer that returns zeros (``zeros`` itself; a factory for symmetry).

    >>> import jax, jax.numpy as jnp
    >>> zeros_init()(jax.random.key(0), (2,), jnp.float32)
    Array([0., 0.], dtype=float32)
    """
    return zeros


def ones_init() -> Initializer:
    """The initializer that returns ones (``ones`` itself; a factory for symmetry).

    >>> import jax, jax.numpy as jnp
    >>> ones_init()(jax.random.key(0), (2,), jnp.float32)
    Array([1., 1.], dtype=float32)
    """
    return ones
