"""StateSharding: one sharding (a PartitionSpec) per filter over an Object's state.

``StateAxes``' counterpart for ``nnx.shard_map`` (and any transform taking specs): an
Object's entry in ``in_specs`` / ``out_specs`` may be one PartitionSpec for all of its
state, a StateSharding (the first filter that matches a value gives its spec), or a
State whose leaves are specs (each path its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from nnx_graph import Filter, Path, State, describe, format_path, message, to_predicate
from nnx_transforms._axes import _path_filters


class _NoSharding:
    def __repr__(self) -> str:
        return "NO_SHARDING"


NO_SHARDING: Any = _NoSharding()


class StateSharding(Mapping[Filter, Any]):
    """One sharding per filter over an Object's state; the first match wins.

    Built from a ``{filter: sharding}`` mapping, ``(filter, sharding)`` pairs, or a State
    whose leaves are shardings. Hashable, so it can key JAX's caches.

    >>> from jax.sharding import PartitionSpec as P
    >>> from nnx_variables import Param
    >>> StateSharding({Param: P('model'), ...: P()}).shardings
    (P('model',), P())
    """

    def __init__(
        self,
        filter_sharding: State | Mapping[Filter, Any] | Iterable[tuple[Filter, Any]],
        /,
    ) -> None:
        if isinstance(filter_sharding, State):
            filter_sharding = _path_filters(filter_sharding)
        pairs = tuple(
            filter_sharding.items() if isinstance(filter_sharding, Mapping) else filter_sharding
        )
        self.filters: tuple[Filter, ...] = tuple(f for f, _ in pairs)
        self.shardings: tuple[Any, ...] = tuple(s for _, s in pairs)
        self.predicates = tuple(to_predicate(f) for f in self.filters)

    def sharding_of(self, path: Path, value: Any) -> Any:
        """The sharding of the value at ``path``, or ``NO_SHARDING`` when no filter matches."""
        for predicate, sharding in zip(self.predicates, self.shardings, strict=True):
            if predicate(path, value):
                return sharding
        return NO_SHARDING

    def map_prefix(self, path: Path, variable: Any) -> Any:
        """The sharding of the value at ``path`` (relative to the object); ValueError if none."""
        sharding = self.sharding_of(path, variable)
        if sharding is NO_SHARDING:
            raise ValueError(
                message(
                    "StateSharding.map_prefix: no StateSharding filter matches the value.",
                    [f"{format_path(path, 'object')}: {describe(variable)}"],
                    expected=f"one of the filters {list(self.filters)!r} to match it",
                    fix="add a catch-all entry last: StateSharding({..., ...: P()})",
                )
            )
        return sharding

    def __getitem__(self, key: Filter) -> Any:
        for f, sharding in zip(self.filters, self.shardings, strict=True):
            if f == key:
                return sharding
        raise KeyError(key)

    def __iter__(self) -> Iterator[Filter]:
        return iter(self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StateSharding)
            and self.filters == other.filters
            and self.shardings == other.shardings
        )

    def __hash__(self) -> int:
        return hash((self.filters, self.shardings))

    def __repr__(self) -> str:
        items = ", ".join(
            f"{f!r}: {s!r}" for f, s in zip(self.filters, self.shardings, strict=True)
        )
        return f"StateSharding({{{items}}})"
