"""Embed: a table of vectors looked up by integer index, and its transpose, ``attend``.

Looking up is ``jnp.take(embedding, indices, axis=0)``; ``attend`` scores a query
against every row (``query @ embedding.T``), which is how a language model ties its
output projection to its input embedding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnx_graph import LayerInputError, Module
from nnx_layers._checks import (
    as_array,
    check_array,
    check_feature_axis,
    check_integer,
    check_rank,
)
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._params import NO_METADATA, check_metadata, make_param
from nnx_layers.initializers import Initializer, variance_scaling
from nnx_variables import Param, Rngs

default_embed_init = variance_scaling(1.0, "fan_in", "normal", out_axis=0)


class Embed(Module):
    """A ``(num_embeddings, features)`` table: ``embed(indices)`` appends a features axis.

    The table is drawn with ``embedding_init`` (unit variance per entry by default) from
    one ``rngs.params()`` key. Negative indices count from the end. An index outside
    ``[-num_embeddings, num_embeddings)`` raises a ``LayerInputError`` naming it when the
    indices are concrete (outside ``jit``). Under ``jit`` the indices are traced and
    cannot be checked: such an index gives a row of NaN (``jnp.take``'s fill mode), or
    row 0 for a one-row table, with no error.

    ``promote_dtype`` casts the table (with ``inexact=False``: integer tables stay
    integer) for lookups, and ``(query, table)`` for ``attend``.

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
        promote_dtype: PromoteDtype = default_promote_dtype,
        embedding_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        check_metadata("nnx.Embed", embedding_metadata=embedding_metadata)
        table = embedding_init(rngs.params(), (num_embeddings, features), param_dtype)
        self.embedding: Param[jax.Array] = make_param(table, embedding_metadata)
        self.num_embeddings = num_embeddings
        self.features = features
        # None means the table's dtype, stored as such (as flax 0.12 does), so a custom
        # promote_dtype is told the table's dtype rather than None.
        self.dtype = self.embedding.dtype if dtype is None else dtype
        self.param_dtype = param_dtype
        self.promote_dtype = promote_dtype

    def __call__(self, inputs: jax.Array, out_sharding: Any = None) -> jax.Array:
        """The rows for the integer array ``inputs``: shape ``(*inputs.shape, features)``.

        ``out_sharding`` (a ``PartitionSpec`` under an Explicit mesh) is the sharding of
        the rows; the lookup runs under ``jax.sharding.auto_axes`` to produce it, as in
        flax, because ``jnp.take`` takes no ``out_sharding``.
        """
        check_array(self, inputs)
        check_integer(self, inputs, fix="pass token ids, e.g. embed(ids.astype(jnp.int32))")
        if not isinstance(inputs, jax.core.Tracer):  # concrete: outside jit, checkable
            self._check_in_range(inputs)
        (embedding,) = self.promote_dtype((self.embedding[...],), dtype=self.dtype, inexact=False)
        lookup = self._lookup
        if out_sharding is not None:
            lookup = jax.sharding.auto_axes(lookup, out_sharding=out_sharding)
        return lookup(embedding, as_array(inputs))

    def _lookup(self, embedding: jax.Array, indices: jax.Array) -> jax.Array:
        if self.num_embeddings == 1:  # every valid index is 0: one broadcast, no gather
            return jnp.broadcast_to(embedding, (*indices.shape, self.features))
        return jnp.take(embedding, indices, axis=0)

    def _check_in_range(self, inputs: Any) -> None:
        """Raise naming the indices outside the table (they would give NaN rows silently).

        Costs one transfer of the indices to the host, and only runs eagerly: under jit
        the indices are tracers and the check is skipped (see the class docstring).
        """
        n = self.num_embeddings
        indices = np.asarray(inputs)
        bad = np.argwhere((indices >= n) | (indices < -n))
        if not len(bad):
            return
        shown = [f"{indices[tuple(at)]} at {list(map(int, at))}" for at in bad[:5]]
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        largest = int(indices.max())
        raise LayerInputError(
            self,
            f"{len(bad)} {'index' if len(bad) == 1 else 'indices'} out of range for "
            f"num_embeddings={n}: "
            f"{', '.join(shown)}{more}",
            expected=f"indices in [-{n}, {n})",
            fix=f"Embed({max(largest + 1, n)}, {self.features}, ...) to hold every id, or "
            f"embed(jnp.clip(ids, 0, {n - 1}))",
        )

    def attend(self, query: jax.Array, out_sharding: Any = None) -> jax.Array:
        """Similarity of ``query`` (``(..., features)``) to every row: ``(..., num_embeddings)``.

        ``out_sharding`` is the sharding of the scores, handed to ``jnp.dot``.
        """
        fix = f"pass queries of shape (..., {self.features})"
        check_rank(self, query, minimum=1, what="features last", fix=fix)
        check_feature_axis(self, query, axis=-1, size=self.features, name="features", fix=fix)
        query, embedding = self.promote_dtype(
            (as_array(query), self.embedding[...]), dtype=self.dtype
        )
        return jnp.dot(query, embedding.T, out_sharding=out_sharding)
