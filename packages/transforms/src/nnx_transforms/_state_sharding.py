"""StateSharding: one sharding (a PartitionSpec) per filter over an Object's state.

``StateAxes``' counterpart for ``nnx.shard_map`` (and any transform taking specs): an
Object's entry in ``in_specs`` / ``out_specs`` may be one PartitionSpec for all of its
state, a StateSharding (the first filter that matches a value gives its spec), or a
State whose leaves are specs (each path its own).
"""

from __future__ import annotations

from typing import Any

from nnx_graph import Path, describe, format_path, message
from nnx_transforms._axes import NO_MATCH, FilterMapping


class _NoSharding:
    def __repr__(self) -> str:
        return "NO_SHARDING"


NO_SHARDING: Any = _NoSharding()


class StateSharding(FilterMapping):
    """One sharding per filter over an Object's state; the first match wins.

    Built from a ``{filter: sharding}`` mapping, ``(filter, sharding)`` pairs, or a State
    whose leaves are shardings. Hashable, so it can key JAX's caches.

    >>> from jax.sharding import PartitionSpec as P
    >>> from nnx_variables import Param
    >>> StateSharding({Param: P('model'), ...: P()}).shardings
    (P('model',), P())
    """

    @property
    def shardings(self) -> tuple[Any, ...]:
        return self.entries

    def sharding_of(self, path: Path, value: Any) -> Any:
        """The sharding of the value at ``path``, or ``NO_SHARDING`` when no filter matches."""
        found = self.first_match(path, value)
        return NO_SHARDING if found is NO_MATCH else found

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
