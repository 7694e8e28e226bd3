"""Embed: a table of vectors looked up by integer index, and its transpose, ``attend``.

Looking up is ``jnp.take(embedding, indices, axis=0)``; ``attend`` scores a query
against every row (``query @ embedding.T``), which is how a language model ties its
output projection to its input embedding.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module
from nnx_layers._checks import as_array, check_feature_axis, check_integer, check_rank
from nnx_layers._dtypes import promote_dtype
from nnx_layers.initializers import Initializer, variance_scaling
from nnx_variables import Param, Rngs

default_embed_init = variance_scaling(1.0, "fan_in", "normal", out_axis=0)


class Embed(Module):
    """A ``(num_embeddings, features)`` table: ``embed(indices)`` appends a features axis.

    The table is drawn with ``embedding_init`` (unit variance per entry by default) from
    one ``rngs.params()`` key. Negative indices count from the end; indices past the end
    give rows of NaN (``jnp.take``'s fill mode) rather than a silent wrong row.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> embed = Embed(5, 3, rngs=Rngs(0))
    >>> embed(jnp.array([[0, 4]])).shape, embed.attend(jnp.ones((2, 3))).shape
    ((1, 2, 3), (2, 5))
    """

    def __init__(
        self,
        num_embeddings: int,
        features: int,
        *,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        embedding_init: Initializer = default_embed_init,
        rngs: Rngs,
    ) -> None:
        self.embedding = Param(
            embedding_init(rngs.params(), (num_embeddings, features), param_dtype)
        )
        self.num_embeddings = num_embeddings
        self.features = features
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """The rows for the integer array ``inputs``: shape ``(*inputs.shape, features)``."""
        check_integer(self, inputs, fix="pass token ids, e.g. embed(ids.astype(jnp.int32))")
        (embedding,) = promote_dtype(
            (self.embedding[...],), dtype=self.dtype or self.embedding.dtype, inexact=False
        )
        indices = as_array(inputs)
        if self.num_embeddings == 1:  # every valid index is 0: one broadcast, no gather
            return jnp.broadcast_to(embedding, (*indices.shape, self.features))
        return jnp.take(embedding, indices, axis=0)

    def attend(self, query: jax.Array) -> jax.Array:
        """Similarity of ``query`` (``(..., features)``) to every row: ``(..., num_embeddings)``."""
        fix = f"pass queries of shape (..., {self.features})"
        check_rank(self, query, minimum=1, what="features last", fix=fix)
        check_feature_axis(self, query, axis=-1, size=self.features, name="features", fix=fix)
        query, embedding = promote_dtype((as_array(query), self.embedding[...]), dtype=self.dtype)
        return jnp.dot(query, embedding.T)
