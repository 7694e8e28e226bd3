import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module
from nnx_layers import Embed
from nnx_variables import Param, Rngs

# Embed(5, 3, rngs=Rngs(0)).embedding as the reference implementation (flax 0.12.8) draws it.
REFERENCE_EMBEDDING = np.array(
    [
        [0.57966787, -0.523274, -0.43195742],
        [-0.676289, -0.50300646, 0.33996582],
        [0.41796115, -0.59212935, 0.95934135],
        [-1.0917838, -0.7441663, 0.07713798],
        [-0.66570747, 0.13815777, 1.007365],
    ],
    dtype=np.float32,
)


def test_reference_table():
    embed = Embed(5, 3, rngs=Rngs(0))
    assert isinstance(embed.embedding, Param)
    np.testing.assert_allclose(embed.embedding.value, REFERENCE_EMBEDDING, rtol=1e-6)


def test_lookup_appends_features_axis_and_negative_indices_count_from_end():
    embed = Embed(5, 3, rngs=Rngs(0))
    y = embed(jnp.array([[0, 1], [-1, 2]]))
    assert y.shape == (2, 2, 3)
    np.testing.assert_array_equal(y[1, 0], embed.embedding.value[4])


def test_out_of_range_index_gives_nan_under_jit():
    embed = Embed(5, 3, rngs=Rngs(0))
    y = jax.jit(lambda ids: embed(ids))(jnp.array([5]))  # traced: cannot be checked
    assert bool(jnp.all(jnp.isnan(y)))


@pytest.mark.parametrize("ids", [jnp.array([[1, 5]]), np.array([[1, -6]])])
def test_out_of_range_concrete_index_names_it_and_num_embeddings(ids):
    class Model(Module):
        def __init__(self):
            self.tokens = Embed(5, 3, rngs=Rngs(0))

        def __call__(self, ids):
            return self.tokens(ids)

    with pytest.raises(
        LayerInputError,
        match=r"(?s)^model\.tokens \(Embed\): 1 index out of range for num_embeddings=5: "
        r"-?[56] at \[0, 1\].*Expected: indices in \[-5, 5\).*"
        r"Fix: Embed\(\d, 3, \.\.\.\) to hold every id, or embed\(jnp\.clip\(ids, 0, 4\)\)",
    ):
        Model()(ids)


def test_single_row_table_broadcasts():
    embed = Embed(1, 4, rngs=Rngs(0))
    y = embed(jnp.zeros((2, 3), jnp.int32))
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y[1, 2], embed.embedding.value[0])


def test_attend_is_product_with_transposed_table():
    embed = Embed(5, 3, rngs=Rngs(0))
    query = jax.random.normal(jax.random.key(1), (2, 3))
    np.testing.assert_allclose(
        embed.attend(query), query @ embed.embedding.value.T, rtol=1e-5, atol=1e-6
    )


def test_dtype_casts_lookup():
    embed = Embed(5, 3, dtype=jnp.bfloat16, rngs=Rngs(0))
    assert embed(jnp.array([0])).dtype == jnp.bfloat16
    assert embed.embedding.value.dtype == jnp.float32


def test_float_indices_are_rejected():
    with pytest.raises(
        LayerInputError,
        match=r"Embed: expected integer indices, got Array\(shape=\(2,\), dtype=float32\)"
        r"(.|\n)*Fix: pass token ids",
    ):
        Embed(5, 3, rngs=Rngs(0))(jnp.array([0.0, 1.0]))


def test_attend_wrong_feature_size():
    with pytest.raises(
        LayerInputError,
        match=r"Embed: expected input with last dimension 3 \(features\), got shape \(2, 4\)"
        r"(.|\n)*Fix: pass queries of shape \(\.\.\., 3\)",
    ):
        Embed(5, 3, rngs=Rngs(0)).attend(jnp.ones((2, 4)))


def to_bfloat16(arrays, /, *, dtype=None, inexact=True):
    """A promote_dtype that ignores ``dtype`` and casts every array to bfloat16."""
    return tuple(None if a is None else jnp.asarray(a, jnp.bfloat16) for a in arrays)


def test_promote_dtype_casts_lookups_and_attend_as_flax_does():
    embed = Embed(5, 3, promote_dtype=to_bfloat16, rngs=Rngs(0))
    assert embed.promote_dtype is to_bfloat16
    rows = embed(jnp.array([1, 4]))
    scores = embed.attend(jnp.array([[1.0, 0.5, -1.0]]))
    assert rows.dtype == scores.dtype == jnp.bfloat16
    # flax 0.12.8, the same keywords and seed
    flax_rows = [[-0.676, -0.504, 0.34], [-0.664, 0.138, 1.008]]
    flax_scores = [[0.75, -1.266, -0.84, -1.547, -1.602]]
    np.testing.assert_allclose(np.asarray(rows, np.float32), flax_rows, atol=1e-3)
    np.testing.assert_allclose(np.asarray(scores, np.float32), flax_scores, atol=1e-2)


def test_promote_dtype_is_asked_for_an_exact_table_on_lookup_in_the_table_dtype():
    seen = []

    def record(arrays, /, *, dtype=None, inexact=True):
        seen.append((len(arrays), dtype, inexact))
        return arrays

    embed = Embed(5, 3, promote_dtype=record, rngs=Rngs(0))
    embed(jnp.array([0]))
    embed.attend(jnp.ones((1, 3)))
    # as flax 0.12.8 calls it: dtype=None is stored as the table's dtype
    assert embed.dtype == jnp.float32
    assert seen == [(1, jnp.float32, False), (2, jnp.float32, True)]
