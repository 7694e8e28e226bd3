"""Filters: the small language that selects parts of a graph's state.

A filter is anything ``to_predicate`` accepts, turned into a predicate
``(path, value) -> bool`` where ``value`` is a Variable, a VariableState, an array or a
node. Variable kinds are the common case (``nnx.Param``); the rest combine them.

>>> import jax.numpy as jnp
>>> from nnx_graph import Variable
>>> class Param(Variable): pass
>>> is_param = to_predicate(Param)
>>> is_param(('w',), Param(jnp.ones(1))), is_param(('w',), Variable(jnp.ones(1)))
(True, False)
"""

from __future__ import annotations

import builtins
import difflib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from nnx_graph._errors import FilterWarning, message
from nnx_graph._paths import Path, format_path
from nnx_graph._variable import Variable
from nnx_graph._variable_state import VariableState

Predicate: TypeAlias = Callable[[Path, Any], bool]
Filter: TypeAlias = Any  # a type, str, tuple/list of filters, ..., bool, None or a callable


def _kind(value: Any) -> Any:
    return value.type if isinstance(value, VariableState) else type(value)


class OfType:
    """Matches Variables (or VariableStates) of a kind or its subclasses; or values of a type."""

    def __init__(self, type: builtins.type) -> None:
        self.type = type

    def __call__(self, path: Path, value: Any) -> bool:
        kind = _kind(value)
        return isinstance(kind, builtins.type) and issubclass(kind, self.type)

    def __repr__(self) -> str:
        return f"OfType({self.type.__name__})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OfType) and other.type is self.type

    def __hash__(self) -> int:
        return hash((OfType, self.type))


class WithTag:
    """Matches Variables whose ``tag`` metadata equals ``tag``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, path: Path, value: Any) -> bool:
        metadata = getattr(value, "metadata", None) if isinstance(value, VariableState) else None
        if isinstance(value, Variable):
            metadata = value.get_metadata()
        return bool(metadata) and metadata.get("tag") == self.tag  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"WithTag({self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WithTag) and other.tag == self.tag

    def __hash__(self) -> int:
        return hash((WithTag, self.tag))


class PathContains:
    """Matches values whose path contains ``key`` (an attribute name, dict key or index).

    With ``exact=False``, a path entry need only contain ``key`` as a substring
    (``PathContains('ker', exact=False)`` matches ``kernel``).

    >>> PathContains('w')(('layer', 'w'), None), PathContains('lay', exact=False)(('layer',), None)
    (True, True)
    """

    def __init__(self, key: Any, exact: bool = True) -> None:
        self.key = key
        self.exact = exact

    def __call__(self, path: Path, value: Any) -> bool:
        if self.exact:
            return self.key in path
        text = str(self.key)
        return any(text in str(part) for part in path)

    def __repr__(self) -> str:
        exact = "" if self.exact else ", exact=False"
        return f"PathContains({self.key!r}{exact})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PathContains) and other.key == self.key and other.exact == self.exact
        )

    def __hash__(self) -> int:
        return hash((PathContains, self.key, self.exact))


class _Combinator:
    def __init__(self, *filters: Filter) -> None:
        self.filters = filters
        self.predicates = tuple(to_predicate(f) for f in filters)

    def __repr__(self) -> str:
        name = type(self).__name__.rstrip("_")
        return f"{name}({', '.join(map(repr, self.filters))})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Combinator)
            and type(other) is type(self)
            and other.filters == self.filters
        )

    def __hash__(self) -> int:
        return hash((type(self), self.filters))


class Any_(_Combinator):
    """Matches when any of the filters matches (exported as ``Any``)."""

    def __call__(self, path: Path, value: Any) -> bool:
        return any(p(path, value) for p in self.predicates)


class All(_Combinator):
    """Matches when every one of the filters matches."""

    def __call__(self, path: Path, value: Any) -> bool:
        return all(p(path, value) for p in self.predicates)


class Not(_Combinator):
    """Matches what the filter does not."""

    def __init__(self, filter: Filter) -> None:
        super().__init__(filter)

    def __call__(self, path: Path, value: Any) -> bool:
        return not self.predicates[0](path, value)


class Everything:
    """Matches everything."""

    def __call__(self, path: Path, value: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return "Everything()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Everything)

    def __hash__(self) -> int:
        return hash(Everything)


class Nothing:
    """Matches nothing."""

    def __call__(self, path: Path, value: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return "Nothing()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Nothing)

    def __hash__(self) -> int:
        return hash(Nothing)


def to_predicate(filter: Filter) -> Predicate:
    """Turn any filter into a predicate ``(path, value) -> bool``.

    Accepted: a type (matches that kind and its subclasses), a string (``tag``
    metadata), a tuple or list (any of them), ``...`` or ``True`` (everything),
    ``None`` or ``False`` (nothing), or a callable ``(path, value) -> bool``.
    """
    if isinstance(filter, type):
        return OfType(filter)
    if isinstance(filter, str):
        return WithTag(filter)
    if filter is Ellipsis or filter is True:
        return Everything()
    if filter is None or filter is False:
        return Nothing()
    if isinstance(filter, tuple | list):
        return Any_(*filter)
    if callable(filter):
        return filter  # type: ignore[no-any-return]
    raise TypeError(
        f"Invalid filter {filter!r} of type {type(filter).__name__}. Expected a Variable "
        "type, a string tag, a tuple/list of filters, ..., True, False, None or a "
        "callable (path, value) -> bool; e.g. nnx.split(model, nnx.Param, ...)"
    )


def filters_cover_everything(filters: tuple[Filter, ...]) -> bool:
    """Whether the last filter trivially matches all (lets split skip the leftover check)."""
    return bool(filters) and (filters[-1] is Ellipsis or filters[-1] is True)


# One typo in a name of four letters or more scores at least 0.75. Shorter names sit
# too close to each other for a near miss to mean a typo ('enc' and 'dec' score 0.67).
_CLOSE = 0.75


def warn_unmatched_names(
    flat: Mapping[Path, Any],
    filters: Sequence[Filter],
    parts: Sequence[Mapping[Path, Any]],
    *,
    op: str,
    call: str,
    root: str,
) -> None:
    """Warn when a name or tag filter before a catch-all matches nothing but is close to a name.

    ``split(model, 'kernal', ...)`` otherwise succeeds with an empty first State and
    everything in the catch-all, and the mistake surfaces much later. Only filters the
    user spelled as text are checked (a string or ``WithTag``, which select by tag, and
    ``PathContains``), and only when the last filter catches the rest; a string equal to
    a name in the model also warns, since a string selects by tag, not by name. Called
    straight from the public function, so ``stacklevel=3`` points at the user's call.
    ``call`` is how the user spelled the call up to the filters (``nnx.split(model, ``).
    """
    if not filters_cover_everything(tuple(filters)):
        return
    for position, (filter, part) in enumerate(zip(filters[:-1], parts, strict=False)):
        text = _filter_text(filter)
        if part or text is None:
            continue
        predicate = to_predicate(filter)
        if any(predicate(path, leaf) for path, leaf in flat.items()):
            continue  # it matches; an earlier filter took those values first
        hint = _closest(text, by_tag=not isinstance(filter, PathContains), flat=flat, root=root)
        if hint is None:
            continue
        note, replacement = hint
        spelled = [_spell(f) for f in filters]
        spelled[position] = replacement
        warnings.warn(
            message(
                f"{op}: the filter {_spell(filter)} matches no value, so everything it was "
                "meant to select falls through to the catch-all.",
                [note],
                fix=f"{call}{', '.join(spelled)})",
            ),
            FilterWarning,
            stacklevel=3,
        )


def _filter_text(filter: Filter) -> str | None:
    """The text of a filter the user spelled by name or tag, else None."""
    if isinstance(filter, str):
        return filter
    if isinstance(filter, WithTag) and isinstance(filter.tag, str):
        return filter.tag
    if isinstance(filter, PathContains) and isinstance(filter.key, str):
        return filter.key
    return None


def _closest(
    text: str, *, by_tag: bool, flat: Mapping[Path, Any], root: str
) -> tuple[str, str] | None:
    """A note naming the closest tag or name to ``text``, and the filter to write instead."""
    names: dict[str, Path] = {}
    for path in flat:
        for end, key in enumerate(path):
            if isinstance(key, str):
                names.setdefault(key, path[: end + 1])
    if by_tag:
        if text in names:
            return (
                f"{format_path(names[text], root)} is named {text!r}, but a string filter "
                "selects Variables by their tag metadata, not by name",
                f"nnx.PathContains({text!r})",
            )
        tags: dict[str, Path] = {}
        for path, leaf in flat.items():
            tag = _tag_of(leaf)
            if isinstance(tag, str):
                tags.setdefault(tag, path)
        close = difflib.get_close_matches(text, list(tags), n=1, cutoff=_CLOSE)
        if close:
            return (
                f"closest tag: {close[0]!r} (on {format_path(tags[close[0]], root)})",
                repr(close[0]),
            )
    close = difflib.get_close_matches(text, list(names), n=1, cutoff=_CLOSE)
    if not close:
        return None
    note = f"closest name: {format_path(names[close[0]], root)}"
    if by_tag:
        note += " (a string filter selects by tag; PathContains selects by name)"
    return note, f"nnx.PathContains({close[0]!r})"


def _tag_of(leaf: Any) -> Any:
    if isinstance(leaf, VariableState):
        return leaf.metadata.get("tag")
    if isinstance(leaf, Variable):
        return leaf.get_metadata().get("tag")
    return None


def _spell(filter: Filter) -> str:
    if filter is Ellipsis:
        return "..."
    return getattr(filter, "__name__", None) or repr(filter)
