"""EMA: an exponential moving average of a model's Variables, as Flax NNX 0.12 has it.

The average lives in Variables of its own (copies of the tracked ones, same kinds and
metadata), held in a State, so an ``EMA`` travels through ``nnx.jit`` beside the model
and optimizer and is updated in place. ``apply_to`` builds a model that shares those
Variables, so an evaluation model made once keeps seeing every later update.
"""

from __future__ import annotations

from typing import Any, TypeVar

import jax.numpy as jnp

from nnx_graph import (
    Filter,
    Object,
    Path,
    State,
    Variable,
    check_tree,
    describe,
    format_path,
    merge,
    message,
    resolve_graph,
    split,
    to_predicate,
)
from nnx_graph import state as graph_state

M = TypeVar("M")


class EMA(Object):
    """Exponential moving average of the Variables of ``params`` that ``only`` selects.

    ``ema.update(model)`` moves each average towards the model's value:
    ``average = decay * average + (1 - decay) * value``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(0.0))
    >>> model = Model()
    >>> ema = EMA(model, decay=0.9)
    >>> model.w[...] = jnp.array(10.0)
    >>> ema.update(model)
    >>> round(float(ema.params['w'][...]), 4), ema.apply_to(model).w is ema.params['w']
    (1.0, True)
    """

    _nnx_root_name = "ema"  # errors read ``ema.params.w``

    def __init__(
        self, params: Any, decay: float, *, only: Filter = ..., graph: bool | None = None
    ) -> None:
        """``graph=False`` (tree mode, as Flax NNX 0.12) refuses params that share a node."""
        if not resolve_graph(graph):
            check_tree([params], ["params"], "nnx.EMA")
        if isinstance(only, list):  # a GraphDef holds the filter, so it must be hashable
            only = tuple(only)
        flat = _selected(params, only, "nnx.EMA")
        self.decay = decay
        self.filter = only
        self.params = State.from_flat_path(
            {path: v.replace(jnp.copy(v.get_value())) for path, v in flat.items()}
        )

    def update(self, updates: Any) -> None:
        """Blend ``updates`` (the model, or a State of it) into the averages, in place."""
        flat = _selected(updates, self.filter, "EMA.update")
        averages = self.params.flat_dict()
        problems = [
            f"{format_path(path, 'model')}: missing (the average is {describe(v.raw_value)})"
            for path, v in averages.items()
            if path not in flat
        ]
        problems += [
            f"{format_path(path, 'model')}: {describe(v.raw_value)} has no average"
            for path, v in flat.items()
            if path not in averages
        ]
        if problems:
            raise ValueError(
                message(
                    "EMA.update: the model does not have the Variables the EMA was built with.",
                    problems,
                    expected="the paths of nnx.state(model, only) at the time of nnx.EMA(model)",
                    fix="ema = nnx.EMA(model, decay)  # rebuild it after changing the model",
                )
            )
        decay = self.decay
        for path, average in averages.items():
            average[...] = decay * average[...] + (1.0 - decay) * flat[path][...]

    def apply_to(self, model: M) -> M:
        """A new ``model`` whose tracked Variables are the averages themselves (shared).

        Variables the EMA does not track are shared with ``model``.
        """
        graphdef, state = split(model)
        return merge(graphdef, State.merge(state, self.params))  # type: ignore[no-any-return]


def _selected(node: Any, only: Filter, op: str) -> dict[Path, Variable[Any]]:
    """The Variables of ``node`` (a graph or a State) that ``only`` selects, by path."""
    if isinstance(node, State):
        predicate = to_predicate(only)
        flat = {p: v for p, v in node.flat_dict().items() if predicate(p, v)}
    else:
        flat = graph_state(node, only).flat_dict()
    bare = [
        f"{format_path(path, 'model')}: {describe(leaf)}"
        for path, leaf in flat.items()
        if not isinstance(leaf, Variable)
    ]
    if bare:
        raise TypeError(
            message(
                f"{op}: the EMA averages Variables only, and `only` selected plain values.",
                bare,
                expected="Variables (nnx.Param, nnx.BatchStat, ...)",
                fix="nnx.EMA(model, decay, only=nnx.Param)",
            )
        )
    return flat
