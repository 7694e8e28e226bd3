"""Optimizer: one optax transformation applied to a model's parameters, in place.

The Optimizer holds the model by reference, so a jitted step that receives both sees
one model (the transforms keep sharing between arguments). The optax state is stored as
a tuple of ``OptState`` Variables, one per optax leaf, plus the static tree structure:
a flat tuple keeps the per-call cost of passing the optimizer through ``nnx.jit`` to
reading and writing its leaves, where nested dicts would have to be re-checked every
call. ``optimizer.opt_state`` rebuilds the optax structure for inspection.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from nnx_graph import Filter, Object, State, Variable, VariableState, describe, message, update
from nnx_graph import state as graph_state
from nnx_variables import Param


class OptState(Variable[Any]):
    """Optimizer state: each optax leaf and the step counter."""


def _pure(tree: Any) -> dict[Any, Any]:
    if isinstance(tree, State):
        return tree.to_pure_dict()
    if isinstance(tree, dict):
        return State(tree).to_pure_dict()
    raise TypeError(
        message(
            f"Optimizer.update: grads must be a State (from nnx.grad), got {describe(tree)}.",
            fix="grads = nnx.grad(loss_fn)(model); optimizer.update(grads)",
        )
    )


def _paths(tree: dict[Any, Any]) -> set[tuple[Any, ...]]:
    return set(State(tree).flat_state())


class Optimizer(Object):
    """Applies ``tx`` to the Variables of ``model`` that ``wrt`` selects.

    >>> import jax.numpy as jnp, optax
    >>> from nnx_graph import Module
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(1.0))
    >>> model = Model()
    >>> optimizer = Optimizer(model, optax.sgd(0.5))
    >>> optimizer.update({'w': jnp.array(2.0)})
    >>> float(model.w.value), int(optimizer.step.value)
    (0.0, 1)
    """

    def __init__(self, model: Any, tx: optax.GradientTransformation, wrt: Filter = Param) -> None:
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise TypeError(
                message(
                    f"nnx.Optimizer: tx must be an optax GradientTransformation, got "
                    f"{describe(tx)}.",
                    fix="nnx.Optimizer(model, optax.adam(1e-3))",
                )
            )
        params = graph_state(model, wrt)
        if not params.flat_state():
            raise ValueError(
                message(
                    f"nnx.Optimizer: wrt={wrt!r} selects no Variable of the "
                    f"{type(model).__name__} model.",
                    expected="a filter matching the Variables to optimise",
                    fix="nnx.Optimizer(model, tx, wrt=nnx.Param)",
                )
            )
        leaves, treedef = jax.tree_util.tree_flatten(tx.init(params.to_pure_dict()))
        self.step = OptState(jnp.array(0, dtype=jnp.uint32))
        self.model = model
        self.tx = tx
        self.wrt = wrt
        self.opt_treedef: Any = treedef  # a PyTreeDef: static, hashable
        self.opt_leaves = tuple(OptState(leaf) for leaf in leaves)

    @property
    def opt_state(self) -> Any:
        """The optax state, its leaves being the OptState Variables that hold them."""
        return jax.tree_util.tree_unflatten(self.opt_treedef, list(self.opt_leaves))

    def update(self, model_or_grads: Any, grads: Any = None, /, **kwargs: Any) -> None:
        """Apply one optax step: ``update(grads)``, or ``update(model, grads)``.

        Keyword arguments go to ``tx.update`` (``value=loss`` for transformations that
        need it). Nothing is written unless the whole step succeeds.
        """
        model = self.model
        if grads is None:
            grads = model_or_grads
        elif model_or_grads is not self.model:
            raise ValueError(
                message(
                    f"Optimizer.update: the model passed ({type(model_or_grads).__name__}) "
                    "is not the model this optimizer was built for.",
                    expected="the same object as optimizer.model",
                    fix="optimizer.update(optimizer.model, grads), or build an Optimizer "
                    "for the other model",
                )
            )
        params = graph_state(model, self.wrt)
        param_values = params.to_pure_dict()
        grad_values = _pure(grads)
        self._check_fits(param_values, grad_values)
        opt_state = jax.tree_util.tree_unflatten(
            self.opt_treedef, [leaf.value for leaf in self.opt_leaves]
        )
        updates, new_state = self.tx.update(grad_values, opt_state, param_values, **kwargs)
        new_params = optax.apply_updates(param_values, updates)
        new_leaves = self.opt_treedef.flatten_up_to(new_state)
        params.replace_by_pure_dict(new_params, _keep_dtype)
        update(model, params)
        for variable, value in zip(self.opt_leaves, new_leaves, strict=True):
            variable.value = value
        self.step.value = self.step.value + 1

    def _check_fits(self, params: dict[Any, Any], grads: dict[Any, Any]) -> None:
        expected, given = _paths(params), _paths(grads)
        if expected == given:
            return
        problems = [f"grads{_index(p)}: missing" for p in sorted(expected - given, key=repr)]
        problems += [
            f"grads{_index(p)}: not a parameter selected by wrt={self.wrt!r}"
            for p in sorted(given - expected, key=repr)
        ]
        raise ValueError(
            message(
                "Optimizer.update: the gradients do not match the model's parameters.",
                problems,
                expected="grads shaped like nnx.state(model, wrt)",
                fix="grads = nnx.grad(loss_fn)(model) (it differentiates nnx.Param by default)",
            )
        )


def _index(path: tuple[Any, ...]) -> str:
    return "".join(f"[{key!r}]" for key in path)


def _keep_dtype(old: Any, new: Any) -> Any:
    if isinstance(old, VariableState):
        return old.replace(jnp.asarray(new, dtype=old.value.dtype))
    return jnp.asarray(new, dtype=old.dtype)
