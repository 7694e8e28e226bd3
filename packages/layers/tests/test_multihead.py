"""MultiHeadAttention's hooks for its projections and query/key norms.

The numbers are flax 0.12.8's (flax.nnx) for the same inputs, keywords and seed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_layers import MultiHeadAttention
from nnx_variables import Rngs


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


def halved(lhs, rhs, dims, precision=None, **kwargs):
    return 0.5 * jax.lax.dot_general(lhs, rhs, dims, precision=precision, **kwargs)


class Doubled:
    """A dot_general class: each instance doubles the product."""

    def __call__(self, lhs, rhs, dims, precision=None, **kwargs):
        return 2 * jax.lax.dot_general(lhs, rhs, dims, precision=precision, **kwargs)


# keyword -> (a value for it, the attribute it sets on the sublayers, those sublayers)
HOOKS = {
    "qkv_promote_dtype": (to_bfloat16, "promote_dtype", ("query", "key", "value")),
    "out_promote_dtype": (to_bfloat16, "promote_dtype", ("out",)),
    "ln_promote_dtype": (to_bfloat16, "promote_dtype", ("query_ln", "key_ln")),
    "qkv_dot_general": (halved, "dot_general", ("query", "key", "value")),
    "out_dot_general": (halved, "dot_general", ("out",)),
    "qkv_dot_general_cls": (Doubled, "dot_general_cls", ("query", "key", "value")),
    "out_dot_general_cls": (Doubled, "dot_general_cls", ("out",)),
}
SUBLAYERS = ("query", "key", "value", "out", "query_ln", "key_ln")


def test_defaults_leave_the_projections_as_they_were():
    mha = MultiHeadAttention(2, 4, decode=False, rngs=Rngs(0))
    assert mha.qkv_dot_general is mha.out_dot_general is None
    assert mha.qkv_dot_general_cls is mha.out_dot_general_cls is None
    assert mha.qkv_promote_dtype is mha.out_promote_dtype is mha.ln_promote_dtype
    assert mha.query.promote_dtype is mha.qkv_promote_dtype


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_is_stored_and_reaches_its_sublayers_only(hook):
    value, attribute, targets = HOOKS[hook]
    mha = MultiHeadAttention(2, 4, normalize_qk=True, decode=False, rngs=Rngs(0), **{hook: value})
    assert getattr(mha, hook) is value
    for name in SUBLAYERS:
        layer = getattr(mha, name)
        reached = getattr(layer, attribute, None) is value
        assert reached == (name in targets), name


def test_hooks_change_the_output_as_in_flax():
    mha = MultiHeadAttention(
        2,
        4,
        qkv_dot_general=halved,
        out_dot_general_cls=Doubled,
        qkv_promote_dtype=to_bfloat16,
        decode=False,
        rngs=Rngs(0),
    )
    y = mha(jax.random.normal(jax.random.key(4), (1, 3, 4)))
    assert y.dtype == jnp.float32  # the output projection promotes back to float32
    flax = [
        [0.035, 1.077, -0.018, -1.009],
        [0.042, 1.122, -0.015, -1.018],
        [0.053, 0.915, -0.042, -0.964],
    ]  # flax 0.12.8, y[0]
    np.testing.assert_allclose(y[0], flax, atol=1e-2)


def test_ln_and_out_promote_dtype_set_the_output_dtype():
    mha = MultiHeadAttention(
        2,
        4,
        normalize_qk=True,
        ln_promote_dtype=to_bfloat16,
        out_promote_dtype=to_bfloat16,
        decode=False,
        rngs=Rngs(0),
    )
    assert mha(jnp.ones((1, 3, 4))).dtype == jnp.bfloat16  # as in flax 0.12.8
