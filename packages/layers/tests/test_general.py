"""LinearGeneral and Einsum: the promote_dtype / dot_general / dot_general_cls hooks.

The numbers are flax 0.12.8's (flax.nnx) for the same inputs, keywords and seed.
"""

import jax
import jax.numpy as jnp
import numpy as np

from nnx_layers import Einsum, LinearGeneral
from nnx_variables import Rngs

X = jnp.array([[0.5, -1.0, 2.0, 3.5], [1.5, 0.25, -2.0, 4.0]])


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


def halved(lhs, rhs, dims, precision=None, **kwargs):
    return 0.5 * jax.lax.dot_general(lhs, rhs, dims, precision=precision, **kwargs)


class Doubled:
    """A dot_general class: each instance doubles the product; instances are counted."""

    made = 0

    def __init__(self):
        type(self).made += 1

    def __call__(self, lhs, rhs, dims, precision=None, **kwargs):
        return 2 * jax.lax.dot_general(lhs, rhs, dims, precision=precision, **kwargs)


def test_linear_general_promote_dtype():
    layer = LinearGeneral(4, (2, 3), promote_dtype=to_bfloat16, rngs=Rngs(0))
    assert layer.promote_dtype is to_bfloat16
    y = layer(X)
    assert y.dtype == jnp.bfloat16
    flax = [[0.375, 1.25, -0.484], [-0.469, 2.516, 1.555]]  # flax 0.12.8, y[0]
    np.testing.assert_allclose(np.asarray(y[0], np.float32), flax, atol=1e-3)


def test_linear_general_dot_general():
    layer = LinearGeneral(4, (2, 3), dot_general=halved, rngs=Rngs(0))
    flax = [[0.1858, 0.6238, -0.2437], [-0.2324, 1.256, 0.7763]]  # flax 0.12.8, y[0]
    np.testing.assert_allclose(layer(X)[0], flax, atol=1e-4)


def test_linear_general_dot_general_cls_wins_and_is_made_on_each_call():
    layer = LinearGeneral(4, (2, 3), dot_general=halved, dot_general_cls=Doubled, rngs=Rngs(0))
    assert layer.dot_general_cls is Doubled and layer.dot_general is halved
    assert LinearGeneral(4, 3, rngs=Rngs(0)).dot_general_cls is None
    made = Doubled.made
    y = layer(X)
    layer(X)
    assert Doubled.made == made + 2  # flax 0.12.8 also instantiates it per call
    flax = [[0.7432, 2.4953, -0.9746], [-0.9294, 5.024, 3.105]]  # flax 0.12.8, y[0]
    np.testing.assert_allclose(y[0], flax, atol=1e-4)


def test_einsum_promote_dtype():
    layer = Einsum("bd,dh->bh", (4, 3), (3,), promote_dtype=to_bfloat16, rngs=Rngs(0))
    assert layer.promote_dtype is to_bfloat16
    y = layer(X)
    assert y.dtype == jnp.bfloat16
    flax = [[-1.586, -3.234, 1.422], [-3.844, -2.453, -1.922]]  # flax 0.12.8
    np.testing.assert_allclose(np.asarray(y, np.float32), flax, atol=1e-2)


def test_promote_dtype_sees_the_layer_dtype():
    seen = []

    def record(arrays, /, *, dtype=None, inexact=True):
        seen.append((len(arrays), dtype, inexact))
        return arrays

    LinearGeneral(4, 3, dtype=jnp.float16, promote_dtype=record, rngs=Rngs(0))(X)
    Einsum("bd,dh->bh", (4, 3), dtype=jnp.float16, promote_dtype=record, rngs=Rngs(0))(X)
    assert seen == [(3, jnp.float16, True), (3, jnp.float16, True)]
