"""``nnx.nn.initializers``: flax's initializers module, as ``import nnx.nn.initializers``.

The same objects as ``nnx.initializers.X`` (``jax.nn.initializers``' functions, and
``zeros_init`` / ``ones_init``).

>>> import jax
>>> from nnx.nn import initializers
>>> initializers.zeros_init()(jax.random.key(0), (2,)).tolist()
[0.0, 0.0]
"""

from nnx_layers.initializers import (
    Initializer,
    constant,
    delta_orthogonal,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    ones_init,
    orthogonal,
    truncated_normal,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
    zeros_init,
)

__all__ = [
    "Initializer",
    "constant",
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "ones_init",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "zeros_init",
]
