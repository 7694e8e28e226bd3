"""Optimizer: one optax transformation applied to a model's parameters, in place.

The Optimizer holds the model by reference, so a jitted step that receives both sees
one model (the transforms split their arguments jointly and keep the sharing). The optax
state is stored as optax built it, with an ``OptState`` Variable at each leaf
(``optimizer.opt_state[0].mu['kernel']`` for Adam, see ``_opt_state``), so
``nnx.state(optimizer)`` has flax's paths; as in flax, a leaf kept per parameter is an
``OptVariable`` and any other leaf (Adam's ``count``) an ``OptArray``.

optax sees the parameters and gradients as nested dicts of arrays, the shape of
``nnx.state(model, wrt).to_pure_dict()``, so masks and labels for ``optax.masked`` and
``optax.multi_transform`` are written as plain dicts, and a line search's ``value_fn``
receives something ``nnx.merge`` accepts. Where a level's keys mix ints and strings (a
dict attribute ``{0: ..., 'head': ...}``), which jax cannot sort and so cannot flatten as
a dict, that tree is handed over as a State instead. A mask or labels built the flax 0.10
way, ``jax.tree.map(f, nnx.state(model, nnx.Param))`` (a State of Variables), does not
fit nested dicts; when ``tx.init`` refuses them, the parameters are handed over in that
form instead (a State of Variables), for this Optimizer's whole life.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from nnx_graph import (
    Filter,
    Object,
    Path,
    State,
    Variable,
    VariableState,
    check_tree,
    describe,
    format_path,
    message,
    resolve_graph,
    to_predicate,
    update,
)
from nnx_graph import state as graph_state
from nnx_optim._opt_state import store, variables
from nnx_optim._stale_state import changed_parameters
from nnx_variables import Param

_GRADS_FIX = "grads = nnx.grad(loss_fn)(model); optimizer.update(model, grads)"


class OptState(Variable[Any]):
    """Optimizer state: the step counter and each leaf of the optax state.

    A kind of its own, so filters tell optimizer state from parameters
    (``nnx.state(optimizer, nnx.OptState)``) and checkpoints can keep them apart.

    >>> import jax.numpy as jnp
    >>> OptState(jnp.zeros(2)).value.tolist()
    [0.0, 0.0]
    """


class OptArray(OptState):
    """Optimizer state for an array: an optax leaf of its own (Adam's ``count``).

    The Optimizer stores each leaf of the optax state that mirrors no parameter as an
    ``OptArray``, so ``nnx.state(optimizer, nnx.OptArray)`` selects the counters and
    hyperparameters apart from the per-parameter moments.

    >>> import jax.numpy as jnp
    >>> isinstance(OptArray(jnp.zeros(())), OptState)
    True
    """


class OptVariable(OptState):
    """Optimizer state for a Variable: an optax leaf kept per parameter (Adam's ``mu``).

    The Optimizer stores each leaf whose optax path ends in a parameter's path as an
    ``OptVariable``; one with the parameter's shape carries its sharding metadata too.

    >>> import jax.numpy as jnp
    >>> isinstance(OptVariable(jnp.zeros(2)), OptState)
    True
    """


class Optimizer(Object):
    """Applies the optax transformation ``tx`` to the Variables of ``model`` that ``wrt`` selects.

    ``optimizer.model`` is ``model`` itself, not a copy: updates land in the caller's
    model, and splitting the optimizer together with the model keeps the two linked.
    ``step`` (an ``OptState``, uint32) counts the updates applied.

    >>> import jax.numpy as jnp, optax
    >>> from nnx_graph import Module
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(1.0))
    >>> model = Model()
    >>> optimizer = Optimizer(model, optax.sgd(0.5))
    >>> _ = optimizer.update({'w': jnp.array(2.0)})
    >>> float(model.w.value), int(optimizer.step.value)
    (0.0, 1)
    """

    _nnx_root_name = "optimizer"  # errors read ``optimizer.model.w``, not ``model.model.w``
    # The model is owned by the caller: tree mode (graph=False) takes (model, optimizer)
    # as a tree, as flax 0.12 does, where the Optimizer does not hold the model.
    _nnx_references = ("model",)

    def __init__(
        self,
        model: Any,
        tx: optax.GradientTransformation,
        wrt: Filter = Param,
        *,
        graph: bool | None = None,
    ) -> None:
        """``graph=False`` (tree mode, as Flax NNX 0.12) refuses a model that shares a node."""
        if not resolve_graph(graph):
            check_tree([model], ["model"], "nnx.Optimizer")
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise TypeError(
                message(
                    f"nnx.Optimizer: tx must be an optax GradientTransformation, got "
                    f"{describe(tx)}.",
                    fix="nnx.Optimizer(model, optax.adam(1e-3))",
                )
            )
        if isinstance(wrt, list):  # a GraphDef holds the filter, so it must be hashable
            wrt = tuple(wrt)
        params = graph_state(model, wrt)
        if not params.flat_dict():
            raise ValueError(
                message(
                    f"nnx.Optimizer: wrt={_filter_repr(wrt)} selects no Variable of the "
                    f"{type(model).__name__} model.",
                    [
                        f"{format_path(path, 'model')}: {leaf.type.__name__}"
                        for path, leaf in graph_state(model).flat_dict().items()
                    ],
                    expected="a filter matching the Variables to optimise (listed above: "
                    "every Variable of the model and its kind)",
                    fix="nnx.Optimizer(model, tx, wrt=nnx.Param)",
                )
            )
        param_flat = params.flat_dict()
        self.variables_form = False  # static: how optax sees the parameters (see above)
        try:
            init_state = tx.init(_arrays(param_flat))
        except (TypeError, ValueError) as error:
            try:
                init_state = tx.init(_variables(param_flat))
            except (TypeError, ValueError):
                raise error from None
            self.variables_form = True
        self.opt_treedef: Any = jax.tree_util.tree_structure(init_state)  # static, hashable
        self.step = OptState(jnp.array(0, dtype=jnp.uint32))
        self.model = model
        self.tx = tx
        self.wrt = wrt
        self.opt_state = store(
            _strip_variables(init_state),
            lambda path, leaf: _opt_variable(path, leaf, param_flat),
        )

    @property
    def opt_leaves(self) -> tuple[OptState, ...]:
        """The OptState Variables of ``opt_state``, in optax's leaf order."""
        return tuple(variables(self.opt_state))  # type: ignore[arg-type]

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """Apply one optax step to the model in place, increment ``step``, return the updates.

        Spelled ``update(grads)`` or ``update(model, grads)``; ``grads`` may also be
        passed by keyword. ``grads`` is the State ``nnx.grad`` returns (or a State or
        dict of arrays) with the paths of ``nnx.state(model, wrt)``. Other keyword
        arguments go to ``tx.update``, for transformations that need them
        (``value=loss`` for ``reduce_on_plateau``; ``value``, ``grad``, ``value_fn`` for
        line searches, whose ``value_fn`` receives the parameters as a State of arrays).
        Nothing is written unless the whole step succeeds. The updates optax computed
        (what was added to the parameters) come back as a State of arrays with the paths
        of ``nnx.state(model, wrt)``, as in Flax NNX 0.12.

        >>> import jax.numpy as jnp, optax
        >>> from nnx_graph import Module
        >>> class Model(Module):
        ...     def __init__(self):
        ...         self.w = Param(jnp.array(1.0))
        >>> model = Model()
        >>> optimizer = Optimizer(model, optax.sgd(0.5), wrt=Param)
        >>> updates = optimizer.update(model, {'w': jnp.array(2.0)})
        >>> float(updates['w']), float(model.w[...])
        (-1.0, 0.0)
        """
        model, grads = self._parse_arguments(args, kwargs)
        param_flat = graph_state(model, self.wrt).flat_dict()
        grad_flat = self._check_grads(param_flat, grads)
        # Built in the parameters' path order, so both trees have one structure even
        # where a State falls back to insertion order (mixed int and str keys).
        if self.variables_form:
            params = _variables(param_flat)
            grad_arrays = _variables({p: v.replace(grad_flat[p]) for p, v in param_flat.items()})
        else:
            params = _arrays(param_flat)
            grad_arrays = _tree({path: grad_flat[path] for path in param_flat})
        opt_variables = self.opt_leaves
        opt_state = jax.tree_util.tree_unflatten(
            self.opt_treedef, [leaf.value for leaf in opt_variables]
        )
        extra = jax.tree_util.tree_map(_pure, kwargs, is_leaf=_is_state_or_variable)
        try:
            updates, new_opt_state = self.tx.update(grad_arrays, opt_state, params, **extra)
            new_params = optax.apply_updates(params, updates)  # keeps the parameters' dtypes
            new_leaves = self.opt_treedef.flatten_up_to(new_opt_state)
        except (TypeError, ValueError) as error:
            self._check_state_fits(params, param_flat, error)
            raise
        new_flat = {
            path: _value(leaf)
            for path, leaf in (State.wrap(new_params) if type(new_params) is dict else new_params)
            .flat_dict()
            .items()
        }
        # A stale state can also broadcast against the parameters without failing, and
        # would then change their shapes; comparing shapes is cheap (trace time under jit).
        if any(
            jnp.shape(new) != jnp.shape(old.value)
            for new, old in zip(new_leaves, opt_variables, strict=True)
        ) or any(jnp.shape(new_flat[p]) != jnp.shape(v.value) for p, v in param_flat.items()):
            self._check_state_fits(params, param_flat, None)
        update(
            model,
            State.from_flat_path(
                {path: v.replace(new_flat[path]) for path, v in param_flat.items()}
            ),
        )
        for variable, value in zip(opt_variables, new_leaves, strict=True):
            variable.value = value
        self.step.value = self.step.value + 1
        if self.variables_form:
            updates = _strip_variables(updates)
        return State.wrap(updates) if type(updates) is dict else updates

    def _check_state_fits(
        self, params: Any, param_flat: dict[Path, Any], error: Exception | None
    ) -> None:
        """Raise naming the parameters changed since ``__init__`` (model surgery), if any."""
        problems = changed_parameters(
            self.tx, self.opt_treedef, [leaf.value for leaf in self.opt_leaves], params, param_flat
        )
        if not problems:
            return
        raise ValueError(
            message(
                "Optimizer.update: the model's parameters changed after the Optimizer was "
                "built, so its optax state no longer fits them.",
                problems,
                expected="the parameter paths and shapes the Optimizer was built with",
                fix=f"optimizer = nnx.Optimizer(model, optimizer.tx, wrt={_filter_code(self.wrt)})"
                "  # rebuild it after changing the model (its state starts afresh), or change "
                "the model before building the Optimizer",
            )
        ) from error

    def _parse_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        if "grads" in kwargs:
            grads, rest = kwargs.pop("grads"), args
        elif args:
            grads, rest = args[-1], args[:-1]
        else:
            raise TypeError(message("Optimizer.update: no gradients were passed.", fix=_GRADS_FIX))
        if len(rest) > 1:
            raise TypeError(
                message(
                    f"Optimizer.update takes (grads) or (model, grads), got {len(args)} "
                    f"positional arguments: {', '.join(describe(a) for a in args)}.",
                    fix="optimizer.update(model, grads, value=loss)  # extras by keyword",
                )
            )
        if rest and rest[0] is not self.model:
            raise ValueError(
                message(
                    f"Optimizer.update: the model passed ({describe(rest[0])}) is not the "
                    f"model this optimizer was built for ({describe(self.model)}).",
                    expected="the same object as optimizer.model (a copy made by "
                    "nnx.merge or nnx.clone is another object)",
                    fix="optimizer.update(optimizer.model, grads), or split and merge the "
                    "model and optimizer together: nnx.merge(*nnx.split((model, optimizer)))",
                )
            )
        return self.model, grads

    def _check_grads(self, param_flat: dict[Path, Any], grads: Any) -> dict[Path, Any]:
        """Return ``grads`` as ``{path: array}``, or raise listing every path that does not fit.

        Gradients that carry their kinds (an object, as ``nnx.grad(graph=False)`` returns,
        or Variables in a State) are narrowed to ``wrt`` as they are read, as Flax NNX 0.12
        does; a bare array has no kind, so its path must be a parameter.
        """
        if isinstance(grads, Object):
            grads = graph_state(grads, self.wrt)
        if not isinstance(grads, State | Mapping):
            raise TypeError(
                message(
                    f"Optimizer.update: grads must be a State (from nnx.grad), got "
                    f"{describe(grads)}.",
                    fix=_GRADS_FIX,
                )
            )
        selected = to_predicate(self.wrt)
        grad_flat = {
            path: _value(leaf)
            for path, leaf in (grads if isinstance(grads, State) else State(grads))
            .flat_dict()
            .items()
            if not isinstance(leaf, Variable) or selected(path, leaf)
        }
        problems = [
            f"{format_path(path, 'grads')}: missing (the parameter is {describe(leaf.value)})"
            for path, leaf in param_flat.items()
            if path not in grad_flat
        ]
        problems += [
            f"{format_path(path, 'grads')}: {describe(grad)} is not a parameter "
            f"selected by wrt={_filter_repr(self.wrt)}"
            for path, grad in grad_flat.items()
            if path not in param_flat
        ]
        problems += [
            f"{format_path(path, 'grads')}: {describe(grad_flat[path])} does not fit the "
            f"parameter {format_path(path, 'model')}, {describe(leaf.value)}"
            for path, leaf in param_flat.items()
            if path in grad_flat and not _fits(grad_flat[path], leaf.value)
        ]
        if problems:
            raise ValueError(
                message(
                    "Optimizer.update: the gradients do not match the model's parameters.",
                    problems,
                    expected="grads with the paths and shapes of nnx.state(model, wrt)",
                    fix="grads = nnx.grad(loss_fn)(model) (it differentiates nnx.Param, "
                    "the optimizer's default wrt)",
                )
            )
        return grad_flat


_SHARDING_METADATA = ("out_sharding", "mesh")


def _opt_variable(path: tuple[Any, ...], leaf: Any, params: dict[Path, Any]) -> OptState:
    """An optax leaf as flax stores it: ``OptVariable`` per parameter, else ``OptArray``.

    Optax keeps per-parameter state in trees shaped like the parameters (Adam's mu, nu),
    so such a leaf's trailing dict keys are a parameter's path. Where it also has that
    parameter's shape it is laid out like it, and ``get_partition_spec(nnx.state(
    optimizer))`` should say so: it copies the parameter's sharding metadata.
    """
    keys: list[Any] = []
    for entry in reversed(path):
        if not isinstance(entry, jax.tree_util.DictKey):
            break
        keys.append(entry.key)
    param = params.get(tuple(reversed(keys)))
    if param is None:
        return OptArray(leaf)
    if getattr(_value(param), "shape", None) != getattr(leaf, "shape", None):
        return OptVariable(leaf)
    metadata = param.metadata if isinstance(param, VariableState) else {}
    return OptVariable(leaf, **{k: metadata[k] for k in _SHARDING_METADATA if k in metadata})


def _is_variable(leaf: Any) -> bool:
    return isinstance(leaf, VariableState | Variable)


def _value(leaf: Any) -> Any:
    return leaf.value if _is_variable(leaf) else leaf


def _is_state_or_variable(leaf: Any) -> bool:
    return isinstance(leaf, State) or _is_variable(leaf)


def _pure(leaf: Any) -> Any:
    """A keyword argument for ``tx.update`` (``grad=`` a State) in the form optax sees."""
    return _arrays(leaf.flat_dict()) if isinstance(leaf, State) else _value(leaf)


def _filter_repr(wrt: Filter) -> str:
    if isinstance(wrt, type):
        return wrt.__name__
    if isinstance(wrt, tuple):
        return "(" + ", ".join(map(_filter_repr, wrt)) + ")"
    return repr(wrt)


def _filter_code(wrt: Filter) -> str:
    """``wrt`` as the user would write it in a call: ``nnx.Param``, ``(nnx.Param, ...)``."""
    if isinstance(wrt, type):
        return f"nnx.{wrt.__name__}"
    if isinstance(wrt, tuple):
        return "(" + ", ".join(map(_filter_code, wrt)) + ")"
    return repr(wrt)


def _variables(flat: dict[Path, Any]) -> State:
    """The parameters as a State of Variable copies (the form flax 0.10 handed optax)."""
    return State.from_flat_path({path: leaf.replace() for path, leaf in flat.items()})


def _strip_variables(tree: Any) -> Any:
    """``tree`` with every Variable node replaced by its value (same leaf order)."""
    return jax.tree_util.tree_map(
        lambda x: x.get_raw_value() if isinstance(x, Variable) else x,
        tree,
        is_leaf=lambda x: isinstance(x, Variable),
    )


def _arrays(flat: dict[Path, Any]) -> Any:
    return _tree({path: _value(leaf) for path, leaf in flat.items()})


def _tree(flat: dict[Path, Any]) -> Any:
    """The nested dict of ``flat``, or a State where jax could not sort a level's keys."""
    state = State.from_flat_path(flat)
    return state.raw_mapping if _sortable(state.raw_mapping) else state


def _sortable(node: dict[Any, Any]) -> bool:
    try:
        sorted(node)
    except TypeError:
        return False
    return all(_sortable(child) for child in node.values() if type(child) is dict)


def _fits(grad: Any, param: Any) -> bool:
    if isinstance(grad, int | float) and not isinstance(grad, bool):
        return jnp.ndim(param) == 0
    shape = getattr(grad, "shape", None)
    return shape is not None and tuple(shape) == tuple(jnp.shape(param))


class ModelAndOptimizer(Optimizer):
    """An Optimizer that holds its model: Flax NNX 0.11's name for 0.10's Optimizer.

    Every ``nnx.Optimizer`` here holds its model already, so this is the same class under
    the name 0.11/0.12 code uses; ``update(grads)`` and ``update(model, grads)`` both work.

    >>> import jax.numpy as jnp, optax
    >>> from nnx_graph import Module
    >>> class Model(Module):
    ...     def __init__(self):
    ...         self.w = Param(jnp.array(1.0))
    >>> optimizer = ModelAndOptimizer(Model(), optax.sgd(0.5), wrt=Param)
    >>> _ = optimizer.update({'w': jnp.array(2.0)})
    >>> float(optimizer.model.w[...]), int(optimizer.step[...])
    (0.0, 1)
    """
