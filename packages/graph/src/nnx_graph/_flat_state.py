"""FlatState: a State's leaves as a sequence of ``(path, leaf)`` pairs.

Code written for flax iterates ``for path, leaf in state.flat_state()`` and slices it; a
sequence keeps that order and the pairing, while ``paths`` and ``leaves`` give the two
columns. It partitions with the same filters as a State.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from nnx_graph._filters import Filter
from nnx_graph._paths import Path


class FlatState(Sequence[tuple[Path, Any]]):
    """An ordered sequence of ``(path, leaf)`` pairs.

    >>> flat = FlatState([(('a',), 1), (('b', 'c'), 2)])
    >>> [path for path, _ in flat], flat.leaves
    ([('a',), ('b', 'c')], (1, 2))
    """

    __slots__ = ("_leaves", "_paths")

    def __init__(
        self, items: Iterable[tuple[Path, Any]] | Mapping[Path, Any] = (), /, *, sort: bool = False
    ) -> None:
        """``sort=True`` orders the pairs by path (integer keys before names at a level)."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if sort:
            pairs.sort(key=lambda pair: _path_order(pair[0]))
        self._paths: tuple[Path, ...] = tuple(tuple(path) for path, _ in pairs)
        self._leaves: tuple[Any, ...] = tuple(leaf for _, leaf in pairs)

    @classmethod
    def from_sorted_keys_values(cls, paths: Iterable[Path], leaves: Iterable[Any]) -> FlatState:
        """Pair two columns of the same length."""
        return cls(zip(paths, leaves, strict=True))

    @property
    def paths(self) -> tuple[Path, ...]:
        return self._paths

    @property
    def leaves(self) -> tuple[Any, ...]:
        return self._leaves

    @overload
    def __getitem__(self, index: int) -> tuple[Path, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> FlatState: ...
    def __getitem__(self, index: int | slice) -> tuple[Path, Any] | FlatState:
        if isinstance(index, slice):
            return FlatState(zip(self._paths[index], self._leaves[index], strict=True))
        return self._paths[index], self._leaves[index]

    def __len__(self) -> int:
        return len(self._paths)

    def __iter__(self) -> Iterator[tuple[Path, Any]]:
        return zip(self._paths, self._leaves, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlatState):
            return NotImplemented
        return bool(self.to_nested_state() == other.to_nested_state())

    __hash__ = None  # type: ignore[assignment]

    def to_nested_state(self) -> Any:
        """The nested State these pairs describe."""
        from nnx_graph._state import State

        return State.from_flat_path(self)

    def split(self, first: Filter, /, *filters: Filter) -> Any:
        """One FlatState per filter (every leaf must match one), as ``State.split``."""
        parts = self.to_nested_state().split(first, *filters)
        return _flat_parts(parts)

    def filter(self, first: Filter, /, *filters: Filter) -> Any:
        """The pairs matching each filter, as ``State.filter``."""
        parts = self.to_nested_state().filter(first, *filters)
        return _flat_parts(parts)

    @staticmethod
    def merge(flat: Iterable[tuple[Path, Any]], /, *flats: Iterable[tuple[Path, Any]]) -> FlatState:
        """Concatenate; a later pair wins where paths coincide."""
        merged: dict[Path, Any] = {}
        for part in (flat, *flats):
            merged.update((tuple(path), leaf) for path, leaf in part)
        return FlatState(merged)

    def __repr__(self) -> str:
        if not self._paths:
            return "FlatState([])"
        body = ",\n".join(f"  ({path!r}, {leaf!r})" for path, leaf in self)
        return f"FlatState([\n{body}\n])"


def _flat_parts(parts: Any) -> Any:
    if isinstance(parts, tuple):
        return tuple(part.flat_state() for part in parts)
    return parts.flat_state()


def to_flat_state(state: Any) -> FlatState:
    """``state.flat_state()`` as a function (flax's spelling).

    >>> from nnx_graph import State
    >>> list(to_flat_state(State({'a': {'b': 1}})))
    [(('a', 'b'), 1)]
    """
    return state.flat_state()  # type: ignore[no-any-return]


def from_flat_state(flat: Mapping[Path, Any] | Iterable[tuple[Path, Any]]) -> Any:
    """A nested State from ``(path, leaf)`` pairs or a ``{path: leaf}`` mapping.

    >>> from_flat_state([(('a', 'b'), 1)])['a']['b']
    1
    """
    from nnx_graph._state import State

    return State.from_flat_path(flat)


def _path_order(path: Path) -> tuple[tuple[bool, Any], ...]:
    """A sort key for a path whose levels mix int and str keys (flax's ``sort=`` raises)."""
    return tuple(
        (not isinstance(key, int), key if isinstance(key, int | str) else repr(key)) for key in path
    )
