"""``nnx.nn.dtypes``: flax's dtype helpers (``canonicalize_dtype``, ``promote_dtype``)."""

from nnx_layers.dtypes import canonicalize_dtype as canonicalize_dtype
from nnx_layers.dtypes import promote_dtype as promote_dtype

__all__ = ["canonicalize_dtype", "promote_dtype"]
