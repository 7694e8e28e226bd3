"""TrainState: the flax.training style of training, over a split model.

Some code keeps a model as ``(graphdef, params)`` and steps an immutable record instead
of updating objects in place: ``state = state.apply_gradients(grads=grads)`` returns a
new TrainState. It is a frozen dataclass and a jax pytree (``tx`` is static), so a whole
TrainState goes in and out of ``jax.jit``. Subclasses add fields the same way
(``class State(nnx.TrainState): batch_stats: nnx.State``) and are dataclasses too.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import optax

from nnx_graph import GraphDef, State, describe, message

TS = TypeVar("TS", bound="TrainState")
_STATIC = "static"


def _register(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get(_STATIC)]
    meta = [f.name for f in fields if f.metadata.get(_STATIC)]
    jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


@dataclasses.dataclass(frozen=True)
class TrainState:
    """``graphdef``, ``params``, ``opt_state``, ``step`` and the optax ``tx`` of a model.

    >>> import jax.numpy as jnp, optax
    >>> from nnx_graph import Module, split
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(1.0))
    ...     def __call__(self, x):
    ...         return x * self.w.value
    >>> graphdef, params = split(Scale())
    >>> state = TrainState.create(graphdef, params=params, tx=optax.sgd(0.5))
    >>> state = state.apply_gradients(grads={'w': jnp.array(2.0)})
    >>> int(state.step), float(state.params['w'].value)
    (1, 0.0)
    """

    graphdef: GraphDef
    params: State
    opt_state: Any
    step: jax.Array
    tx: optax.GradientTransformation = dataclasses.field(metadata={_STATIC: True})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)
        _register(cls)

    @classmethod
    def create(
        cls: type[TS],
        graphdef: GraphDef,
        *,
        params: State,
        tx: optax.GradientTransformation,
        step: int = 0,
        **kwargs: Any,
    ) -> TS:
        """A TrainState at ``step`` with ``tx``'s initial state for ``params``."""
        return cls(
            graphdef=graphdef,
            params=params,
            opt_state=tx.init(_pure(params)),
            step=jnp.asarray(step),
            tx=tx,
            **kwargs,
        )

    def apply(self, state: State | str, *states: State | str) -> Any:
        """``graphdef.apply(...)`` over ``params`` or other State fields named by string."""
        chosen = [getattr(self, s) if isinstance(s, str) else s for s in (state, *states)]
        for name, value in zip((state, *states), chosen, strict=True):
            if not isinstance(value, State):
                raise TypeError(
                    message(
                        f"TrainState.apply: {type(self).__name__}.{name} is "
                        f"{describe(value)}, not a State.",
                        expected="State fields (by name) or States",
                        fix="state.apply('params', 'batch_stats')",
                    )
                )
        return self.graphdef.apply(*chosen)

    def apply_gradients(self: TS, grads: Any, **kwargs: Any) -> TS:
        """The next TrainState: ``tx`` applied to ``grads``, ``step + 1``, other fields replaced."""
        params = _pure(self.params)
        updates, opt_state = self.tx.update(_pure(grads), self.opt_state, params)
        new_params = optax.apply_updates(params, updates)
        merged = State.from_flat_path(
            {
                path: leaf.replace(_at(new_params, path))
                for path, leaf in self.params.flat_dict().items()
            }
        )
        return self.replace(params=merged, opt_state=opt_state, step=self.step + 1, **kwargs)

    def replace(self: TS, **changes: Any) -> TS:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


_register(TrainState)


def _pure(tree: Any) -> Any:
    """A State (of Variables) or dict as the nested dict of arrays optax works on."""
    if isinstance(tree, State):
        return tree.to_pure_dict()
    return tree


def _at(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree
