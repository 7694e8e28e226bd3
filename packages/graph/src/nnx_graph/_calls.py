"""Call methods on a split object: ``nnx.call((graphdef, state)).method(x)``.

The functional spelling of a stateful call, for code that keeps ``(graphdef, state)``
pairs (inside ``jax.jit``, in a ``jax.lax.scan`` carry): the object is merged, the
method runs, and the result comes back with the object's new ``(graphdef, state)``, so
nothing outside changes. ``GraphDef.apply(state)`` is the same call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnx_graph._functional import merge, split
from nnx_graph._graphdef import GraphDef
from nnx_graph._state import State

# A split object as a pair, for annotations (flax's name).
PureState = tuple[GraphDef, State]


class CallableProxy:
    """Calls ``__call__`` (or a method, by attribute) on the merged object."""

    __slots__ = ("_graphdef", "_path", "_states")

    def __init__(self, graphdef: GraphDef, states: tuple[Any, ...], path: tuple[str, ...] = ()):
        self._graphdef = graphdef
        self._states = states
        self._path = path

    def __getattr__(self, name: str) -> CallableProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        return CallableProxy(self._graphdef, self._states, (*self._path, name))

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, tuple[GraphDef, State]]:
        node = merge(self._graphdef, *self._states, copy=True)
        method: Callable[..., Any] = node
        for name in self._path:
            method = getattr(method, name)
        out = method(*args, **kwargs)
        return out, split(node)


def call(graphdef_state: tuple[Any, ...], /) -> Any:
    """A proxy calling the split object's methods, returning ``(out, (graphdef, state))``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable, split
    >>> class Counter(Module):
    ...     def __init__(self):
    ...         self.count = Variable(jnp.array(0))
    ...     def add(self, k):
    ...         self.count.value += k
    ...         return self.count.value
    >>> counter = Counter()
    >>> out, (graphdef, state) = call(split(counter)).add(2)
    >>> int(out), int(state['count'].value), int(counter.count.value)
    (2, 2, 0)
    """
    graphdef, *states = graphdef_state
    return CallableProxy(graphdef, tuple(states))
