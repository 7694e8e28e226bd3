"""nnx.reseed: give named RNG streams of a graph new seeds, in place.

The way to make a model's randomness reproducible again after training (evaluation with
a known dropout mask, a restart from a seed): every stream of a given name anywhere in
the graph restarts from the new key, its count back at zero.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from nnx_graph import iter_graph, message
from nnx_variables._rngs import RngStream, to_key


def reseed(node: Any, /, **stream_keys: Any) -> None:
    """Reseed every stream of ``node`` named in ``stream_keys`` (an int seed or a key).

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(params=0, dropout=1)
    >>> _ = rngs.dropout()
    >>> reseed(rngs, dropout=7)
    >>> int(rngs.dropout.count.value), int(rngs.params.count.value)
    (0, 0)
    """
    streams = [
        stream
        for _, stream in iter_graph(node)
        if isinstance(stream, RngStream) and stream.tag in stream_keys
    ]
    for stream in streams:  # check every stream before changing any
        stream.key.check_trace()
        if jnp.shape(stream.key.value) != ():
            raise ValueError(
                message(
                    f"nnx.reseed: the {stream.tag!r} stream holds keys of shape "
                    f"{jnp.shape(stream.key.value)} (split), not one key.",
                    expected="a stream holding a single key",
                    fix="reseed before nnx.split_rngs / fork_rngs splits it, or after restoring it",
                )
            )
    for stream in streams:
        stream.key.value = to_key(stream_keys[stream.tag], stream.tag)
        stream.count.value = jnp.zeros((), dtype=jnp.uint32)
