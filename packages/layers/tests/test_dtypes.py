"""nnx_layers.dtypes: canonicalize_dtype and promote_dtype, as flax.nnx.nn.dtypes has them."""

import jax.numpy as jnp
import pytest

from nnx_layers.dtypes import canonicalize_dtype, promote_dtype


def test_canonicalize_dtype_as_flax_0_12():
    # Flax NNX 0.12.8 printed: float32 int32 float32 bfloat16 float16, float32 for (3, 2.0).
    assert canonicalize_dtype(jnp.ones(2, jnp.int32)) == jnp.float32
    assert canonicalize_dtype(jnp.ones(2, jnp.int32), inexact=False) == jnp.int32
    assert canonicalize_dtype(jnp.ones(2, jnp.bfloat16), jnp.ones(2)) == jnp.float32
    assert canonicalize_dtype(None, jnp.ones(2, jnp.bfloat16)) == jnp.bfloat16
    assert canonicalize_dtype(jnp.ones(2), dtype=jnp.float16) is jnp.float16
    assert canonicalize_dtype(3, 2.0) == jnp.float32
    assert canonicalize_dtype(jnp.ones(2), dtype=jnp.int32, inexact=False) is jnp.int32


def test_an_integer_dtype_is_refused_when_inexact():
    with pytest.raises(ValueError, match=r"(?s)must be inexact.*inexact=False"):
        canonicalize_dtype(jnp.ones(2), dtype=jnp.int32)


def test_promote_dtype_is_the_layers_own():
    x, w = promote_dtype((jnp.ones(2, jnp.int32), jnp.ones(2, jnp.bfloat16)))
    assert x.dtype == w.dtype == jnp.bfloat16
