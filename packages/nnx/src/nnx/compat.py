"""``nnx.compat``: flax 0.12's graph-mode spellings, whatever the current default mode.

flax 0.12 keeps the full graph semantics (shared references, updates written back into
the caller's objects) under ``nnx.compat.*`` for code written before tree mode existed.
Here graph mode is the default already; these are the same functions with
``graph=True`` (and ``graph_updates=True`` for transforms) fixed, so they keep that
meaning inside ``nnx.set_graph_mode(False)`` too.

>>> import nnx
>>> from nnx import compat
>>> with nnx.set_graph_mode(False):
...     graphdef, state = compat.split(nnx.Linear(2, 3, rngs=nnx.Rngs(0)))
>>> sorted(state)
['bias', 'kernel']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import nnx as _nnx

__all__ = [
    "clone",
    "cond",
    "eval_shape",
    "fori_loop",
    "fork_rngs",
    "grad",
    "graphdef",
    "iter_children",
    "iter_graph",
    "iter_modules",
    "jit",
    "jvp",
    "recursive_map",
    "remat",
    "scan",
    "split",
    "split_rngs",
    "state",
    "switch",
    "value_and_grad",
    "view",
    "view_info",
    "vjp",
    "vmap",
    "while_loop",
]


def _graph_mode(function: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    wrapped = functools.partial(function, **fixed)
    functools.update_wrapper(wrapped, function)
    return wrapped


_TRANSFORM = {"graph": True, "graph_updates": True}

jit = _graph_mode(_nnx.jit, **_TRANSFORM)
grad = _graph_mode(_nnx.grad, **_TRANSFORM)
value_and_grad = _graph_mode(_nnx.value_and_grad, **_TRANSFORM)
vmap = _graph_mode(_nnx.vmap, **_TRANSFORM)
scan = _graph_mode(_nnx.scan, **_TRANSFORM)
remat = _graph_mode(_nnx.remat, **_TRANSFORM)
cond = _graph_mode(_nnx.cond, **_TRANSFORM)
switch = _graph_mode(_nnx.switch, **_TRANSFORM)
fori_loop = _graph_mode(_nnx.fori_loop, **_TRANSFORM)
while_loop = _graph_mode(_nnx.while_loop, **_TRANSFORM)
eval_shape = _graph_mode(_nnx.eval_shape, **_TRANSFORM)
vjp = _graph_mode(_nnx.vjp, **_TRANSFORM)
jvp = _graph_mode(_nnx.jvp, **_TRANSFORM)
split = _graph_mode(_nnx.split, graph=True)
state = _graph_mode(_nnx.state, graph=True)
graphdef = _graph_mode(_nnx.graphdef, graph=True)
clone = _graph_mode(_nnx.clone, graph=True)
iter_graph = _graph_mode(_nnx.iter_graph, graph=True)
iter_children = _graph_mode(_nnx.iter_children, graph=True)
# Graph mode is all these know: the same functions.
split_rngs = _nnx.split_rngs
fork_rngs = _nnx.fork_rngs
view = _nnx.view
view_info = _nnx.view_info
iter_modules = _nnx.iter_modules
recursive_map = _nnx.recursive_map
