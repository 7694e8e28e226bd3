"""nnx.fork: flax 0.10's split of an Rngs State into the keys to split and those to share.

Flax 0.10 built its ``split_rngs`` and the ``StateAxes`` of ``vmap`` / ``scan`` on this
step, and code written for it calls it directly: the streams a filter selects get one key
per split (their keys become ``jax.random.split(key, pattern)``), the others are passed
along unchanged to be broadcast. Nothing is written back: it works on a State (from
``nnx.state(rngs)``) and returns four new ones, keys and counts apart, since a transform
maps over the keys but usually broadcasts the counts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from nnx_graph import All, Filter, FilterError, State, Variable, describe, format_path, message
from nnx_variables._rngs import RngCount, RngKey


class ForkStates(NamedTuple):
    """What ``fork`` returns: the split keys and counts, and the keys and counts to share.

    >>> from nnx_graph import state
    >>> from nnx_variables import Rngs
    >>> forked = fork(state(Rngs(0, dropout=1)), 'dropout', 4)
    >>> forked.split_keys['dropout']['key'].shape, list(forked.broadcast_keys)
    ((4,), ['default'])
    """

    split_keys: State
    split_counts: State
    broadcast_keys: State
    broadcast_counts: State


def fork(
    state: State, split_filter: Filter, split_pattern: int | tuple[int | None, ...] | None
) -> ForkStates:
    """Split the RNG keys ``split_filter`` selects in ``state``; the rest are broadcast.

    ``split_pattern`` is the number of keys per stream, or a shape (``None`` in it is 1).
    Every leaf of ``state`` must be an ``RngKey`` or ``RngCount``; ``state`` itself is
    left as it was.

    >>> from nnx_graph import state
    >>> from nnx_variables import Rngs
    >>> forked = fork(state(Rngs(0)), ..., (2, None, 3))
    >>> forked.split_keys['default']['key'].shape
    (2, 1, 3)
    """
    if split_pattern is None:
        raise RuntimeError(
            message(
                "nnx.fork got split_pattern=None.",
                expected="a number of keys per stream, or a shape: 4, (2, None, 3)",
                fix="nnx.fork(state, split_filter, 4)",
            )
        )
    if not isinstance(state, State):
        raise TypeError(
            message(
                f"nnx.fork expected a State, got {describe(state)}.",
                fix="nnx.fork(nnx.state(rngs), split_filter, split_pattern)",
            )
        )
    others = [
        f"{format_path(path, 'state')}: {_short(leaf)}"
        for path, leaf in state.flat_dict().items()
        if not isinstance(leaf, RngKey | RngCount)
    ]
    if others:
        raise FilterError(
            message(
                "nnx.fork got a State holding more than RNG keys and counts.",
                others,
                expected="the State of RngKey and RngCount Variables only",
                fix="nnx.fork(nnx.state(model, nnx.RngState), split_filter, split_pattern)",
            )
        )
    shape = (
        split_pattern
        if isinstance(split_pattern, int)
        else tuple(1 if size is None else size for size in split_pattern)
    )
    split_keys, split_counts, broadcast_keys, broadcast_counts = state.split(
        All(split_filter, RngKey), All(split_filter, RngCount), RngKey, RngCount
    )

    def split_key(key: Any) -> jax.Array:
        if not isinstance(key, jax.Array):
            raise TypeError(
                message(
                    f"nnx.fork can only split arrays of keys, got {describe(key)}.",
                    expected="RngKey Variables holding jax.random.key arrays",
                )
            )
        keys: jax.Array = jax.random.split(key, shape)
        return keys

    return ForkStates(
        jax.tree.map(split_key, split_keys), split_counts, broadcast_keys, broadcast_counts
    )


def _short(leaf: Any) -> str:
    if isinstance(leaf, Variable):
        return f"{type(leaf).__name__}({describe(leaf.value)})"
    return describe(leaf)
