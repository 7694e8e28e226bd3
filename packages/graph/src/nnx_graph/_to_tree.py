"""nnx.to_tree / nnx.from_tree: a pytree holding objects, as a pure pytree and back.

For handing objects to a plain JAX function: each object in ``tree`` becomes a
``NodeStates`` (its GraphDef, static, and its State, the pytree's leaves), and sharing
between the objects survives the trip, because they are split jointly: an object met
again is recorded as a reference to the first. ``from_tree`` rebuilds them, in the same
order, into one joint graph.
"""

from __future__ import annotations

from typing import Any

import jax

from nnx_graph._flatten import flatten, unflatten
from nnx_graph._functional import _states_of
from nnx_graph._graphdef import GraphDef
from nnx_graph._object import Object
from nnx_graph._state import State
from nnx_graph._variable import Variable


class NodeStates:
    """One object of a ``to_tree`` result: its GraphDef (static) and its States (leaves)."""

    __slots__ = ("graphdef", "metadata", "states")

    def __init__(self, graphdef: GraphDef, states: tuple[State, ...], metadata: Any = None):
        self.graphdef = graphdef
        self.states = states
        self.metadata = metadata

    @property
    def state(self) -> State:
        """The one State (``to_tree`` makes one per object)."""
        if len(self.states) != 1:
            raise ValueError(f"NodeStates holds {len(self.states)} States, not one")
        return self.states[0]

    @classmethod
    def from_split(cls, graphdef: GraphDef, state: State, /, *states: State) -> NodeStates:
        return cls(graphdef, (state, *states))

    def replace(self, **changes: Any) -> NodeStates:
        fields = {"graphdef": self.graphdef, "states": self.states, "metadata": self.metadata}
        fields.update(changes)
        return NodeStates(**fields)

    def __repr__(self) -> str:
        return f"NodeStates(states={self.states!r})"


jax.tree_util.register_pytree_node(
    NodeStates,
    lambda n: (n.states, (n.graphdef, n.metadata)),
    lambda aux, states: NodeStates(aux[0], tuple(states), aux[1]),
)


def _is_node(x: Any) -> bool:
    return isinstance(x, Object | Variable)


def to_tree(tree: Any, /) -> Any:
    """``tree`` with each Object or Variable replaced by a ``NodeStates``, sharing kept.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> box = Box()
    >>> pure = to_tree({'a': box, 'b': box})
    >>> len(jax.tree.leaves(pure)), type(pure['a']).__name__
    (1, 'NodeStates')
    >>> back = from_tree(pure)
    >>> back['a'] is back['b']
    True
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=_is_node)
    positions = [i for i, leaf in enumerate(leaves) if _is_node(leaf)]
    if not positions:
        return tree
    flat = flatten([leaves[i] for i in positions])
    states = _states_of(flat, "nnx.to_tree")
    single = len(positions) == 1  # one root: flatten does not prefix its paths
    for root, position in enumerate(positions):
        edges = (flat.graphdef.edges[root],)
        own = (
            states
            if single
            else {path[1:]: leaf for path, leaf in states.items() if path[0] == root}
        )
        leaves[position] = NodeStates(GraphDef(edges), (State.from_flat_path(own),))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def from_tree(tree: Any, /) -> Any:
    """The objects ``to_tree`` replaced, rebuilt jointly (sharing between them restored)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=lambda x: isinstance(x, NodeStates))
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, NodeStates)]
    if not positions:
        return tree
    nodes: list[NodeStates] = [leaves[i] for i in positions]
    joint = GraphDef(tuple(node.graphdef.edges[0] for node in nodes))
    values: list[Any] = []
    for node in nodes:
        flat: dict[Any, Any] = {}
        for part in node.states:
            flat.update(part.flat_dict())
        values.extend(flat[path] for path in node.graphdef.leaf_paths())
    roots, _ = unflatten(joint, values)
    for position, root_value in zip(positions, roots, strict=True):
        leaves[position] = root_value
    return jax.tree_util.tree_unflatten(treedef, leaves)
