"""Views of a graph (flax 0.12): the same Variables under modules with other attributes.

``nnx.view(model, deterministic=True)`` is an evaluation copy of ``model`` whose
Variables are ``model``'s own (training one trains the other), while the flags live on
separate module objects, so the original keeps its mode. Also here: walking the
modules in the order flax yields them, and finding what is reachable by two paths.

Each takes ``graph=``: tree mode (``graph=False``) refuses a graph that reaches an object
or Variable by two paths, naming both, and otherwise gives what graph mode gives.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from nnx_graph._errors import message
from nnx_graph._filters import Filter, to_predicate
from nnx_graph._flatten import sorted_keys
from nnx_graph._functional import _check_mode, merge, split
from nnx_graph._functional import graphdef as graphdef_of
from nnx_graph._object import Module, Object
from nnx_graph._paths import Path
from nnx_graph._variable import Variable

# Attributes that switch a layer's behaviour between training and evaluation.
VIEW_ATTRIBUTES = ("deterministic", "use_running_average", "decode")


def with_attributes(
    node: Any,
    /,
    *,
    only: Filter = ...,
    raise_if_not_found: bool = True,
    graph: bool | None = None,
    **attributes: Any,
) -> Any:
    """A copy of ``node``'s modules, sharing its Variables, with ``attributes`` set.

    ``only`` restricts which modules are changed; an attribute no module has raises
    (``raise_if_not_found=False`` ignores it), since a misspelling would do nothing.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> class Drop(Module):
    ...     def __init__(self):
    ...         self.deterministic = False
    ...         self.w = Variable(jnp.ones(1))
    >>> model = Drop()
    >>> evaluated = with_attributes(model, deterministic=True)
    >>> evaluated.deterministic, model.deterministic, evaluated.w is model.w
    (True, False, True)
    """
    _check_mode(node, graph, "nnx.with_attributes")
    copy = merge(*split(node))  # new modules, the same Variables (merge shares them)
    predicate = to_predicate(only)
    found: set[str] = set()
    targets = [
        module
        for path, module in iter_modules(copy)
        if predicate(path, module) and _has_any(module, attributes, found)
    ]
    if raise_if_not_found:
        _refuse_missing(attributes, found, copy, "each attribute to exist on at least one module")
    for module in targets:
        for name, value in attributes.items():
            if name in vars(module):
                setattr(module, name, value)
    return copy


def view(
    node: Any,
    /,
    *,
    only: Filter = ...,
    raise_if_not_found: bool = True,
    graph: bool | None = None,
    **attributes: Any,
) -> Any:
    """A view of ``node`` in another mode: ``nnx.view(model, deterministic=True)``.

    As ``with_attributes`` (modules copied, Variables shared), except that a module with
    a ``set_view`` method (flax's hook) is handed the keywords that method takes, so
    ``nnx.view(model, decode=True, batch_size=1, max_length=64)`` can create the
    attention caches; the other keywords set the attributes it has.

    >>> from nnx_graph import Module
    >>> class Norm(Module):
    ...     def __init__(self):
    ...         self.use_running_average = False
    >>> view(Norm(), use_running_average=True).use_running_average
    True
    """
    _check_mode(node, graph, "nnx.view")
    copy = merge(*split(node))  # new modules, the same Variables (merge shares them)
    predicate = to_predicate(only)
    found: set[str] = set()
    plan: list[tuple[Module, Any, dict[str, Any], dict[str, Any]]] = []
    for path, module in iter_modules(copy):
        if not predicate(path, module):
            continue
        hook = getattr(module, "set_view", None)
        taken = _hook_keywords(hook, attributes) if callable(hook) else set()
        to_hook = {name: value for name, value in attributes.items() if name in taken}
        to_set = {
            name: value
            for name, value in attributes.items()
            if name not in taken and name in vars(module)
        }
        found.update(to_hook, to_set)
        if to_hook or to_set:
            plan.append((module, hook, to_hook, to_set))
    if raise_if_not_found:
        expected = "each keyword to be an attribute of, or a set_view argument of, a module"
        _refuse_missing(attributes, found, copy, expected)
    for module, hook, to_hook, to_set in plan:
        for name, value in to_set.items():
            setattr(module, name, value)
        if to_hook:
            hook(**to_hook)
    return copy


def _hook_keywords(hook: Any, attributes: dict[str, Any]) -> set[str]:
    """The keywords of ``attributes`` that a ``set_view`` method takes (all with ``**``)."""
    parameters = inspect.signature(hook).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return set(attributes)
    named = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return named & set(attributes)


def view_info(node: Any, /, *, only: Filter = ..., graph: bool | None = None) -> str:
    """The mode attributes ``view`` can set on ``node``'s modules, one block per kind.

    >>> class Drop(Module):
    ...     def __init__(self):
    ...         self.deterministic = False
    >>> print(view_info(Drop()))
    Drop:
      deterministic: bool = False
    """
    _check_mode(node, graph, "nnx.view_info")
    predicate = to_predicate(only)
    blocks: dict[str, list[str]] = {}
    for path, module in iter_modules(node):
        if not predicate(path, module):
            continue
        lines = [
            f"  {name}: {type(vars(module)[name]).__name__} = {vars(module)[name]!r}"
            for name in VIEW_ATTRIBUTES
            if name in vars(module)
        ]
        if lines:
            blocks.setdefault(type(module).__name__, lines)
    return "\n".join(f"{kind}:\n" + "\n".join(lines) for kind, lines in blocks.items())


def iter_modules(module: Any, /, *, graph: bool | None = None) -> Iterator[tuple[Path, Module]]:
    """Every Module reachable from ``module``, children before parents, each once.

    >>> class Inner(Module):
    ...     pass
    >>> class Outer(Module):
    ...     def __init__(self):
    ...         self.b, self.a = Inner(), Inner()
    >>> [path for path, _ in iter_modules(Outer())]
    [('a',), ('b',), ()]
    """
    _check_mode(module, graph, "nnx.iter_modules")
    seen: set[int] = set()

    def visit(node: Any, path: Path) -> Iterator[tuple[Path, Module]]:
        if isinstance(node, Object):
            if id(node) in seen:
                return
            seen.add(id(node))
        for key, child in _children(node):
            yield from visit(child, (*path, key))
        if isinstance(node, Module):
            yield path, node

    yield from visit(module, ())


def find_duplicates(node: Any, /, *, only: Filter = ...) -> list[list[Path]]:
    """The paths of every Object or Variable reachable by more than one path, grouped.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> class Tied(Module):
    ...     def __init__(self):
    ...         self.embed = Variable(jnp.ones(2))
    ...         self.unembed = self.embed
    >>> find_duplicates(Tied())
    [[('embed',), ('unembed',)]]
    """
    graphdef_of(node)  # refuse what cannot be split, with the usual errors
    predicate = to_predicate(only)
    found: dict[int, list[Path]] = {}

    def visit(value: Any, path: Path) -> None:
        if isinstance(value, Object | Variable):
            paths = found.setdefault(id(value), [])
            paths.append(path)
            if len(paths) > 1:
                return
        for key, child in _children(value):
            visit(child, (*path, key))

    visit(node, ())
    return [
        paths
        for paths in found.values()
        if len(paths) > 1 and predicate(paths[0], _at(node, paths[0]))
    ]


def _children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, Variable):
        return []
    if isinstance(node, Object):
        attributes = vars(node)
        return [(key, attributes[key]) for key in sorted_keys(attributes)]
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list | tuple):
        return list(enumerate(node))
    return []


def _refuse_missing(attributes: dict[str, Any], found: set[str], copy: Any, expected: str) -> None:
    """Raise naming the keywords no module took: a misspelling would otherwise do nothing."""
    missing = sorted(set(attributes) - found)
    if not missing:
        return
    kinds = sorted({type(m).__name__ for _, m in iter_modules(copy)})
    raise AttributeError(
        message(
            f"nnx.view found no module with attribute(s) {', '.join(map(repr, missing))}.",
            [f"modules searched: {', '.join(kinds)}"],
            expected=expected,
            fix="check the spelling, or pass raise_if_not_found=False",
        )
    )


def _has_any(module: Module, attributes: dict[str, Any], found: set[str]) -> bool:
    present = [name for name in attributes if name in vars(module)]
    found.update(present)
    return bool(present)


def _at(node: Any, path: Path) -> Any:
    for key in path:
        if isinstance(node, Object) and isinstance(key, str):
            node = getattr(node, key)
        else:
            node = node[key]
    return node
