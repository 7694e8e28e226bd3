"""nnx.reseed: give named RNG streams of a graph new seeds, in place.

The way to make a model's randomness reproducible again after training (evaluation with
a known dropout mask, a restart from a seed): every stream of a given name anywhere in
the graph restarts from the new key, its count back at zero.

A split stream (one key per ensemble member or layer, from ``split_rngs``) holds an
array of keys, and one seed cannot say what each should become. ``policy=`` decides, as
in Flax NNX 0.12: ``'scalars_only'`` (the default) refuses such a stream, since silently
giving every member the same key would make them identical; ``'match_shape'`` splits the
new key into one per member; a function ``(path, key, shape) -> keys`` does anything
else. Every new key is made before any stream changes, so a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

from nnx_graph import check_tree, describe, format_path, iter_graph, message, resolve_graph
from nnx_variables._rngs import RngStream, to_key

Policy = Literal["scalars_only", "match_shape"] | Callable[[Any, jax.Array, Any], jax.Array]


def reseed(
    node: Any,
    /,
    *,
    graph: bool | None = None,
    policy: Policy = "scalars_only",
    **stream_keys: Any,
) -> None:
    """Reseed every stream of ``node`` named in ``stream_keys`` (an int seed or a key).

    ``policy`` says what a split stream gets (see the module docstring); ``graph=False``
    (tree mode) refuses a graph that reaches a stream by two paths, naming both.

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(params=0, dropout=1)
    >>> _ = rngs.dropout()
    >>> reseed(rngs, dropout=7)
    >>> int(rngs.dropout.count.value), int(rngs.params.count.value)
    (0, 0)
    """
    make = _policy(policy)
    if not resolve_graph(graph):
        check_tree([node], ["node"], "nnx.reseed")
    streams = [
        (path, stream)
        for path, stream in iter_graph(node)
        if isinstance(stream, RngStream) and stream.tag in stream_keys
    ]
    new_keys = []
    for path, stream in streams:  # make every key before changing any stream
        stream.key.check_trace()
        key = to_key(stream_keys[stream.tag], stream.tag)
        new_keys.append(make(path, key, jnp.shape(stream.key.value)))
    for (_, stream), key in zip(streams, new_keys, strict=True):
        stream.key.value = key
        stream.count.value = jnp.zeros(jnp.shape(key), dtype=jnp.uint32)


def _policy(policy: Policy) -> Callable[[Any, jax.Array, Any], jax.Array]:
    if policy == "scalars_only":
        return _scalars_only
    if policy == "match_shape":
        return _match_shape
    if callable(policy):
        return policy
    raise ValueError(
        message(
            f"nnx.reseed: unknown policy {describe(policy)}.",
            expected="'scalars_only', 'match_shape', or a function (path, key, shape) -> keys",
            fix="nnx.reseed(model, policy='match_shape', dropout=0)",
        )
    )


def _scalars_only(path: Any, key: jax.Array, shape: Any) -> jax.Array:
    if tuple(shape) != ():
        tag = path[-1] if path else "default"
        raise ValueError(
            message(
                f"nnx.reseed: the {tag!r} stream holds keys of shape {tuple(shape)} (split), "
                "not one key.",
                [f"{format_path((*path, 'key'), 'node')}: keys of shape {tuple(shape)}"],
                expected="a stream holding a single key, or a policy for split streams",
                fix="nnx.reseed(model, policy='match_shape', ...)  # one new key per member",
            )
        )
    return key


def _match_shape(path: Any, key: jax.Array, shape: Any) -> jax.Array:
    if tuple(shape) == ():
        return key
    return jax.random.split(key, tuple(shape))
