"""Rebuild a graph through a function (flax 0.12's ``nnx.map`` and ``nnx.recursive_map``).

``recursive_map`` is model surgery in one pass: ``f(path, node)`` sees each value after
its children were rebuilt, and what it returns takes the node's place, so swapping every
``Linear`` for a ``LoRALinear`` is one function. Objects and containers are copied,
Variables and other leaves are passed through as they are unless ``f`` replaces them,
and a node reachable by two paths is rebuilt once, so sharing survives.

Both take ``graph=``: tree mode (``graph=False``) refuses a node reachable by two paths,
naming both, and otherwise gives what graph mode gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnx_graph._flatten import sorted_keys
from nnx_graph._functional import _check_mode, merge, split
from nnx_graph._object import Object, init_object
from nnx_graph._paths import Path
from nnx_graph._state import State


def recursive_map(f: Callable[[Path, Any], Any], node: Any, /, *, graph: bool | None = None) -> Any:
    """A copy of ``node`` with every node and leaf replaced by ``f(path, value)``, bottom up.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(2))
    ...         self.depth = 1
    >>> seen = []
    >>> copy = recursive_map(lambda path, x: seen.append(path) or x, Block())
    >>> seen
    [('depth',), ('w',), ()]
    """
    _check_mode(node, graph, "nnx.recursive_map")
    done: dict[int, Any] = {}

    def visit(path: Path, value: Any) -> Any:
        if id(value) in done:
            return done[id(value)]
        if isinstance(value, Object):
            copy = object.__new__(type(value))
            init_object(copy)
            done[id(value)] = copy  # a cycle back to this node finds the copy
            attributes = vars(value)
            for key in sorted_keys(attributes):
                copy.__dict__[key] = visit((*path, key), attributes[key])
            rebuilt: Any = copy
        elif type(value) is list:
            rebuilt = [visit((*path, i), item) for i, item in enumerate(value)]
        elif type(value) is dict:
            rebuilt = {key: visit((*path, key), item) for key, item in value.items()}
        elif type(value) is tuple:
            rebuilt = tuple(visit((*path, i), item) for i, item in enumerate(value))
        else:
            rebuilt = value
        result = f(path, rebuilt)
        if isinstance(value, Object | list | dict):
            done[id(value)] = result
        return result

    return visit((), node)


def map(  # flax's name
    f: Callable[[Path, Any], Any],
    node: Any,
    /,
    *,
    graph: bool | None = None,
    recreate_variables: bool = True,
) -> Any:
    """A new ``node`` whose state leaves are ``f(path, leaf)`` (the leaves are Variables).

    A raw value ``f`` returns becomes a Variable of the kind and metadata the leaf had;
    ``recreate_variables=False`` puts the value itself in the new node (see ``merge``).
    A bare Variable is one leaf, at path ``()``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Block(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(2))
    >>> block = Block()
    >>> zeroed = map(lambda path, v: v.replace(jnp.zeros_like(v[...])), block)
    >>> zeroed.w[...].tolist(), block.w[...].tolist()
    ([0.0, 0.0], [1.0, 1.0])
    >>> type(map(lambda path, v: v[...] * 2, block, recreate_variables=False).w).__name__
    'ArrayImpl'
    """
    _check_mode(node, graph, "nnx.map")
    graphdef, state = split(node)
    if isinstance(state, State):
        mapped = State.from_flat_path({p: f(p, leaf) for p, leaf in state.flat_dict().items()})
    else:  # a bare Variable: split returns the Variable itself
        mapped = f((), state)
    return merge(graphdef, mapped, recreate_variables=recreate_variables)
