"""Object and Module: plain Python objects whose attributes are the edges of a graph.

Attributes holding Objects, Variables, arrays, or lists / tuples / dicts of those are
graph state; anything else (ints, strings, flags, callables) is static and ends up in
the GraphDef. Objects may share sub-objects and form cycles; ``split`` records each node
once and refers back to it.

Two rules keep mutation sound:

* assigning a value to an attribute that holds a Variable writes the Variable's value
  (``self.count += 1`` keeps ``count`` a Variable); assigning a Variable, an Object or
  ``None`` replaces it; a list, tuple or dict is refused over a Variable holding an array
  (it would become the value and fail far from the assignment);
* an Object may only be edited from the JAX trace it was created in, so a module
  captured by closure inside ``jit`` cannot silently leak tracers.
"""

from __future__ import annotations

import functools
import inspect
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import jax
import jax.numpy as jnp

from nnx_graph import _tracking
from nnx_graph._data import unwrap as unwrap_mark
from nnx_graph._errors import (
    AttributeNotFoundError,
    EscapedTraceError,
    LayerInputError,
    SowError,
    TraceContextError,
    describe,
    message,
)
from nnx_graph._marks import record_class
from nnx_graph._paths import Path
from nnx_graph._variable import EscapedValue, Variable

V = TypeVar("V", bound=Variable[Any])
# Called with every new Object subclass; a hook, so that modules above this one (the
# pytree registration in ``_pytree``) extend Objects without an import cycle.
SUBCLASS_HOOKS: list[Callable[[type[Any]], None]] = [record_class]  # nnx.Data annotations


class Object:
    """Base class of every node type with reference semantics (Modules, Rngs, Optimizer).

    >>> import jax.numpy as jnp
    >>> class Box(Object):
    ...     def __init__(self):
    ...         self.count = Variable(jnp.array(0))
    >>> box = Box()
    >>> box.count += 1          # writes the Variable's value, keeps the Variable
    >>> type(box.count).__name__, int(box.count.value)
    ('Variable', 1)
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_nnx_calls",
        "_nnx_escaped",
        "_nnx_trace",
        "_nnx_watched",
    )
    _nnx_calls: dict[Any, Any] | None
    _nnx_marks: ClassVar[dict[str, bool] | None] = None  # nnx.data / nnx.static, by name
    _nnx_root_name: ClassVar[str] = "model"  # how errors name it as a root (``root_name``)
    _nnx_escaped: EscapedValue | None  # set once a transform that built it returned
    _nnx_trace: Any
    _nnx_watched: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = object.__new__(cls)
        init_object(obj)
        return obj

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in SUBCLASS_HOOKS:  # its class-level marks; ``_pytree``: a jax pytree
            hook(cls)

    def __setattr__(self, name: str, value: Any) -> None:
        value = unwrap_mark(self, name, value)  # ``nnx.data(x)``; no data in static attributes
        current = self.__dict__.get(name)
        if current is value and isinstance(value, Variable):
            return  # ``self.count += 1``: the Variable updated itself in place
        if isinstance(current, Variable) and not _replaces_variable(value):
            if isinstance(value, _CONTAINERS):
                _check_container_value(self, name, current, value)
            current.value = value
            return
        self.check_trace(name)
        if self._nnx_watched:
            _tracking.bump_epoch()  # before and after the write: see nnx_graph._tracking
        object.__setattr__(self, name, value)
        # After the write: a cache walking this object meanwhile from another thread
        # either read the new value or marked it watched first (see nnx_graph._cache).
        if self._nnx_watched:
            _tracking.bump_epoch()

    def __delattr__(self, name: str) -> None:
        self.check_trace(name)
        if self._nnx_watched:
            _tracking.bump_epoch()
        object.__delattr__(self, name)
        if self._nnx_watched:
            _tracking.bump_epoch()

    def check_trace(self, name: str = "") -> None:
        """Raise if this object is edited outside the trace it belongs to."""
        if self._nnx_escaped is not None:
            origin = self._nnx_escaped.origin or "a JAX transform"
            raise EscapedTraceError(
                message(
                    f"This {type(self).__name__} was built inside {origin} and "
                    "used after the transform returned.",
                    expected="objects to leave a transform as arguments or return values",
                    fix="return the object from the transformed function",
                )
            )
        if self._nnx_trace != _tracking.current_trace():
            where = f".{name}" if name else ""
            raise TraceContextError(
                message(
                    f"Cannot set {type(self).__name__}{where} from inside a JAX transform "
                    "the object was not passed to.",
                    [
                        "it was captured from the enclosing scope (a closure or a global) "
                        "instead of being an argument"
                    ],
                    expected="objects mutated inside nnx.jit, nnx.grad, ... to be arguments",
                    fix="pass the object in: `step(model, x)` with `def step(model, x): ...`",
                ),
                target=self,
            )

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        init_object(self)
        self.__dict__.update(state)

    def __repr__(self) -> str:
        from nnx_graph._repr import object_repr

        return object_repr(self)


def _replaces_variable(value: Any) -> bool:
    """Whether assigning ``value`` over a Variable attribute replaces the Variable.

    Values (``self.count += 1``, ``self.w = new_array``) are written into the Variable so
    it stays a Variable. A Variable, a sub-Object (model surgery: ``model.w = Block()``)
    or ``None`` (removing a parameter) is never a Variable's value, so it replaces it.
    """
    return value is None or isinstance(value, Variable | Object)


_CONTAINERS = (list, tuple, dict)


def _check_container_value(
    obj: Object,
    name: str,
    variable: Variable[Any],
    value: list[Any] | tuple[Any, ...] | dict[Any, Any],
) -> None:
    """Refuse a Python container written over a Variable attribute that holds an array.

    ``model.w = [1., 2.]`` would make the list the Param's value: nothing fails until the
    next matmul or jit, far from the mistake. A container holding Variables or Objects
    (``model.w = [Param(...), ...]``) is never a value at all: the user meant to replace
    the Param. A Variable holding a container or None (a KV cache dict, sown tuples, a
    cache filled on first use) keeps taking containers, since that is its kind of value.
    """
    kind = type(variable).__name__
    where = f"{type(obj).__name__}.{name}"
    current = f"{kind}({describe(variable.raw_value)})"
    assigned = f"{type(value).__name__} of {len(value)}"
    if _holds_graph_nodes(value):
        raise TypeError(
            message(
                f"Cannot assign a {type(value).__name__} holding Variables or Objects to "
                f"{where}: it holds a {kind}, and a {kind}'s value cannot hold them.",
                [f"{where}: {current}; assigned: {assigned}"],
                expected=f"a Variable, Object or None to replace the {kind}; an array to "
                "write its value",
                fix=f"del module.{name}; module.{name} = [...]  # remove the {kind}, then assign",
            )
        )
    if not _is_array_like(variable.raw_value):
        return
    raise TypeError(
        message(
            f"Cannot assign a {type(value).__name__} to {where}: it holds a {kind}, whose "
            f"value would become the {type(value).__name__}.",
            [f"{where}: {current}; assigned: {assigned}"],
            expected=f"an array or scalar (written into the {kind}), or a Variable, Object "
            f"or None (replacing it)",
            fix=f"module.{name} = jnp.asarray(value)",
        )
    )


def _is_array_like(value: Any) -> bool:
    return hasattr(value, "shape") or isinstance(value, int | float | complex)


def _holds_graph_nodes(value: Any) -> bool:
    if isinstance(value, Variable | Object):
        return True
    if isinstance(value, dict):
        return any(map(_holds_graph_nodes, value.values()))
    if isinstance(value, list | tuple):
        return any(map(_holds_graph_nodes, value))
    return False


def init_object(obj: Object, trace: Any = None) -> None:
    """Give a fresh Object (built without ``__init__``) its bookkeeping fields.

    ``trace`` is the current trace when the caller already has it (``unflatten`` builds
    many objects at once and asks for it once).
    """
    object.__setattr__(obj, "_nnx_trace", _tracking.current_trace() if trace is None else trace)
    object.__setattr__(obj, "_nnx_watched", False)
    object.__setattr__(obj, "_nnx_escaped", None)
    object.__setattr__(obj, "_nnx_calls", None)  # cached walks (see nnx_graph._cache)


def _perturbation_kind(variable_type: type[Variable[Any]] | str | None) -> type[Variable[Any]]:
    """The kind ``perturb`` creates: by default nnx-variables' ``Perturbation``, by name."""
    if variable_type is None:
        default = [k for k in _subclasses(Variable) if k.__name__ == "Perturbation"]
        return default[0] if default else Variable
    if isinstance(variable_type, type):
        return variable_type
    found = [k for k in _subclasses(Variable) if k.__name__ == variable_type]
    if not found:
        raise ValueError(
            message(
                f"Module.perturb: no Variable kind is named {variable_type!r}.",
                fix="pass the kind itself: variable_type=nnx.Perturbation",
            )
        )
    return found[0]


def _subclasses(kind: type[Any]) -> Iterator[type[Any]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _default_reduce(collected: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    return (*collected, value)


def _empty() -> tuple[Any, ...]:
    return ()


# Attributes that train() / eval() switch; modules without them are left alone.
TRAIN_MODE = {"deterministic": False, "use_running_average": False}
EVAL_MODE = {"deterministic": True, "use_running_average": True}


class Module(Object):
    """Base class for neural-network layers and models.

    A Module holds its parameters and sub-modules as attributes and is called directly;
    there is no separate ``apply``. ``train()`` / ``eval()`` switch every sub-module
    between training and inference behaviour.

    >>> import jax.numpy as jnp
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.factor = Variable(jnp.array(2.0))
    ...         self.deterministic = False
    ...     def __call__(self, x):
    ...         return x * self.factor
    >>> model = Scale().eval()
    >>> model.deterministic, float(model(3.0))
    (True, 6.0)
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if inspect.isfunction(call):
            type.__setattr__(cls, "__call__", _locating(call))

    def sow(
        self,
        variable_type: type[V],
        name: str,
        value: Any,
        reduce_fn: Callable[[Any, Any], Any] = _default_reduce,
        init_fn: Callable[[], Any] = _empty,
    ) -> None:
        """Store an intermediate value in a Variable of kind ``variable_type``.

        The first call creates ``self.<name>`` holding ``reduce_fn(init_fn(), value)``;
        later calls fold ``value`` in with ``reduce_fn`` (by default a tuple that grows).
        """
        current = self.__dict__.get(name)
        if current is None:
            setattr(self, name, variable_type(reduce_fn(init_fn(), value)))
            return
        if not isinstance(current, variable_type):
            raise SowError(
                message(
                    f"{type(self).__name__}.sow({variable_type.__name__}, {name!r}, ...) "
                    f"found attribute {name!r} holding a {type(current).__name__}.",
                    expected=f"no attribute {name!r}, or a {variable_type.__name__} there",
                    fix=f"sow under another name, or `del module.{name}` first",
                )
            )
        current.value = reduce_fn(current.value, value)

    def perturb(
        self, name: str, value: Any, variable_type: type[Variable[Any]] | str | None = None
    ) -> Any:
        """Add a zero Variable ``name`` to ``value``: its gradient is ``value``'s gradient.

        A debugging aid for intermediate gradients: the first call creates
        ``self.<name>`` (a ``Perturbation`` by default) holding zeros shaped like
        ``value``; ``nnx.grad`` with respect to ``nnx.Perturbation`` then returns the
        gradient of the loss with respect to ``value`` at that point.
        """
        kind = _perturbation_kind(variable_type)
        current = self.__dict__.get(name)
        if current is None:
            zeros = jax.tree.map(jnp.zeros_like, value)
            setattr(self, name, kind(zeros))
            current = self.__dict__[name]
        elif not isinstance(current, kind):
            raise SowError(
                message(
                    f"{type(self).__name__}.perturb({name!r}, ...) found attribute {name!r} "
                    f"holding a {type(current).__name__}.",
                    expected=f"no attribute {name!r}, or a {kind.__name__} there",
                    fix="perturb under another name",
                )
            )
        return jax.tree.map(lambda x, p: x + p, value, current.value)

    def iter_modules(self) -> Iterator[tuple[tuple[Any, ...], Module]]:
        """Every Module in this graph (this one included) with its path, each once."""
        from nnx_graph._functional import iter_graph

        for path, node in iter_graph(self):
            if isinstance(node, Module):
                yield path, node

    def iter_children(self) -> Iterator[tuple[Any, Any]]:
        """The Objects and Variables held directly in attributes (``nnx.iter_children``).

        Flax NNX 0.12's method yields what its function yields; 0.10's yielded only the
        Modules, which ``isinstance(child, nnx.Module)`` still picks out.
        """
        from nnx_graph._children import iter_children

        yield from iter_children(self)

    def set_attributes(
        self,
        *filters: Any,
        raise_if_not_found: bool = True,
        **attributes: Any,
    ) -> Module:
        """Set ``attributes`` on every sub-module that has them (restricted by ``filters``).

        Raises if an attribute is found on no module, since a misspelled name would
        otherwise silently do nothing. Returns ``self`` so calls can be chained.
        """
        from nnx_graph._filters import to_predicate

        predicates = [to_predicate(f) for f in filters]
        targets = [
            (path, module)
            for path, module in self.iter_modules()
            if not predicates or any(p(path, module) for p in predicates)
        ]
        found = {name for _, m in targets for name in attributes if name in vars(m)}
        missing = sorted(set(attributes) - found)
        if missing and raise_if_not_found:
            kinds = sorted({type(m).__name__ for _, m in targets})
            raise AttributeNotFoundError(
                message(
                    f"{type(self).__name__}.set_attributes found no module with "
                    f"attribute(s) {', '.join(map(repr, missing))}.",
                    [f"modules searched: {', '.join(kinds)}"],
                    expected="each attribute to exist on at least one sub-module",
                    fix="check the spelling, or pass raise_if_not_found=False",
                )
            )
        for _, module in targets:
            for name, value in attributes.items():
                if name in vars(module):
                    setattr(module, name, value)
        return self

    def train(self, **attributes: Any) -> Module:
        """Switch to training mode: Dropout active, BatchNorm using batch statistics."""
        return self._set_mode(TRAIN_MODE, attributes)

    def eval(self, **attributes: Any) -> Module:
        """Switch to inference mode: Dropout off, BatchNorm using running averages."""
        return self._set_mode(EVAL_MODE, attributes)

    def _set_mode(self, mode: dict[str, bool], attributes: dict[str, Any]) -> Module:
        if attributes:  # names the user chose must exist somewhere
            self.set_attributes(**attributes)
        return self.set_attributes(raise_if_not_found=False, **mode)


# Told of every Module call as ``(module, args, kwargs)`` before it runs; each returns a
# function given the call's result (nnx.tabulate). Empty unless something is recording.
CALL_OBSERVERS: list[Callable[[Any, tuple[Any, ...], dict[str, Any]], Callable[[Any], None]]] = []


def _locating(call: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Module's own ``__call__`` so a LayerInputError learns where its layer sits.

    A try block costs nothing in CPython 3.11+ until something is raised, so the only
    price on the success path is this one extra frame. The rejected alternative, a
    context stack of "current path" pushed on every call, costs on every call instead.
    """

    @functools.wraps(call)
    def __call__(self: Module, *args: Any, **kwargs: Any) -> Any:
        # Observers (nnx.tabulate) are told of the call before it runs and get a
        # function to call with its result; the list is empty otherwise.
        finish = (
            [observe(self, args, kwargs) for observe in CALL_OBSERVERS] if CALL_OBSERVERS else ()
        )
        try:
            out = call(self, *args, **kwargs)
        except LayerInputError as error:
            locate(error, self)
            raise
        for done in finish:
            done(out)
        return out

    return __call__


def locate(error: LayerInputError, module: Module) -> None:
    """Prefix ``error.path`` with the path from ``module`` to the layer's current holder.

    The holder is searched in the whole graph under ``module``, so a parent that calls a
    grandchild directly (``self.block.linear(x)``) still yields the full path. If the
    holder is not under ``module`` (it was passed in as an argument), nothing changes.
    """
    if error.holder is module:
        return
    path = find_path(module, error.holder)
    if path is not None:
        error.path = (*path, *error.path)
        error.holder = module


def find_path(root: Any, target: Any) -> Path | None:
    """The shortest attribute path from ``root`` to the object ``target``, or None.

    >>> class Node(Object):
    ...     pass
    >>> root, leaf = Node(), Node()
    >>> root.children = {"a": [Node(), leaf]}
    >>> find_path(root, leaf)
    ('children', 'a', 1)
    """
    seen = {id(root)}
    queue: deque[tuple[Any, Path]] = deque([(root, ())])
    while queue:
        node, path = queue.popleft()
        if isinstance(node, Object):
            items: Any = vars(node).items()
        elif isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list | tuple):
            items = enumerate(node)
        else:
            continue
        for key, child in items:
            if child is target:
                return (*path, key)
            if isinstance(child, Object | dict | list | tuple) and id(child) not in seen:
                seen.add(id(child))
                queue.append((child, (*path, key)))
    return None
