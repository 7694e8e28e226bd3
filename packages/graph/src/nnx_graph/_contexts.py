"""Split and merge contexts: write your own lifted transform with sharing kept (flax's API).

A transform moves objects across a JAX boundary in four steps: split outside (1), merge
inside (2), split inside (3), merge outside (4). ``nnx.update_context(tag)`` ties the
four together so that (4) updates the caller's own objects in place, including
attributes the function added, replaced or made into cycles, instead of building
copies. Inside it, ``nnx.split_context(tag)`` and ``nnx.merge_context(tag, inner=...)``
give ``ctx.split`` / ``ctx.merge`` with ``nnx.split`` / ``nnx.merge``'s signatures; the
node indices recorded at (1) and (2) are what line (3)'s output up with the caller's
objects at (4). Outside an ``update_context`` they are plain split and merge.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable, Iterator
from typing import Any

from nnx_graph._errors import message
from nnx_graph._filters import Filter
from nnx_graph._flatten import flatten, unflatten
from nnx_graph._functional import _states_of, merge, split
from nnx_graph._graphdef import GraphDef
from nnx_graph._state import State, partition


class UpdateContext:
    """The bookkeeping of one lifted call: the caller's nodes and their inner copies."""

    def __init__(self, tag: Hashable) -> None:
        self.tag = tag
        self.outer_nodes: list[Any] | None = None  # recorded by split (1)
        self.inner_index: dict[int, int] | None = None  # recorded by merge (2)

    def clear(self) -> None:
        self.outer_nodes = None
        self.inner_index = None


_local = threading.local()


def _stack() -> list[UpdateContext]:
    stack: list[UpdateContext] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current_update_context(tag: Hashable) -> UpdateContext:
    """The innermost active ``update_context(tag)``; raises if there is none."""
    for context in reversed(_stack()):
        if context.tag == tag:
            return context
    raise ValueError(
        message(
            f"No update_context({tag!r}) is active.",
            fix=f"with nnx.update_context({tag!r}): ...  around the split and merge contexts",
        )
    )


class _UpdateContextManager(contextlib.ContextDecorator):
    def __init__(self, tag: Hashable) -> None:
        self.tag = tag

    def __enter__(self) -> UpdateContext:
        context = UpdateContext(self.tag)
        _stack().append(context)
        return context

    def __exit__(self, *exc: object) -> None:
        _stack().pop().clear()  # nothing of the call stays referenced


def update_context(tag: Hashable) -> Any:
    """Tie a lifted call's four splits and merges together (a ``with`` or a decorator).

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> box = Box()
    >>> with update_context('double'):
    ...     with split_context('double') as ctx:
    ...         graphdef, state = ctx.split(box)
    ...     @jax.jit
    ...     def f(graphdef, state):
    ...         with merge_context('double', inner=True) as ctx:
    ...             inner = ctx.merge(graphdef, state)
    ...         inner.w.value = inner.w.value * 2
    ...         inner.tag = 'doubled'
    ...         with split_context('double') as ctx:
    ...             return ctx.split(inner)
    ...     out = f(graphdef, state)
    ...     with merge_context('double', inner=False) as ctx:
    ...         same = ctx.merge(*out)
    >>> same is box, float(box.w.value[0]), box.tag
    (True, 2.0, 'doubled')
    """
    return _UpdateContextManager(tag)


class SplitContext:
    """``split`` that records or reuses node indices for an active update context."""

    def __init__(self, tag: Hashable | None) -> None:
        self.tag = tag

    def split(self, node: Any, *filters: Filter) -> tuple[Any, ...]:
        """``nnx.split(node, *filters)``, indexed as the update context needs."""
        context = current_update_context(self.tag) if self.tag is not None else None
        if context is None:
            return split(node, *filters)
        if context.inner_index is None:  # (1): outside, before the call
            flat = flatten((node,))
            context.outer_nodes = list(flat.nodes)
        else:  # (3): inside, after the function ran
            flat = flatten(
                (node,),
                ref_index=context.inner_index,
                first_new_index=len(context.outer_nodes or ()),
            )
            context.inner_index = None
        states = _states_of(flat, "nnx.split")
        if not filters:
            return flat.graphdef, State.from_flat_path(states)
        parts = partition(states, filters, op="nnx.split", root="model")
        return (flat.graphdef, *(State.from_flat_path(part) for part in parts))


class MergeContext:
    """``merge`` that builds inner copies (2) or updates the caller's objects (4)."""

    def __init__(self, tag: Hashable | None, inner: bool | None) -> None:
        self.tag = tag
        self.inner = inner

    def merge(self, graphdef: GraphDef, state: Any, /, *states: Any) -> Any:
        """``nnx.merge(graphdef, *states)``, reusing the caller's objects at step (4)."""
        context = current_update_context(self.tag) if self.tag is not None else None
        if context is None:
            return merge(graphdef, state, *states)
        leaves = _leaves(graphdef, (state, *states))
        if self.inner:  # (2)
            roots, index_of = unflatten(graphdef, leaves)
            context.inner_index = {id(node): index for index, node in index_of.items()}
            return roots[0]
        if context.outer_nodes is None:
            raise ValueError(
                message(
                    f"merge_context({self.tag!r}, inner=False) found no outer split.",
                    fix="split the inputs with split_context(tag) first, in the same "
                    "update_context",
                )
            )
        roots, _ = unflatten(graphdef, leaves, existing=context.outer_nodes)  # (4)
        return roots[0]


def _leaves(graphdef: GraphDef, states: tuple[Any, ...]) -> list[Any]:
    flat: dict[Any, Any] = {}
    for part in states:
        flat.update((part if isinstance(part, State) else State(part)).flat_dict())
    return [flat[path] for path in graphdef.leaf_paths()]


@contextlib.contextmanager
def split_context(ctxtag: Hashable | None = None) -> Iterator[SplitContext]:
    """A ``SplitContext`` for ``ctx.split(...)`` (see ``update_context``)."""
    yield SplitContext(ctxtag)


@contextlib.contextmanager
def merge_context(
    ctxtag: Hashable | None = None, inner: bool | None = None
) -> Iterator[MergeContext]:
    """A ``MergeContext`` for ``ctx.merge(...)``: ``inner=True`` inside the transform."""
    yield MergeContext(ctxtag, inner)
