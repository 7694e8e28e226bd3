"""``nnx.ids``: unique ids for objects that need a name no other object has (flax's names).

>>> a, b = uuid(), uuid()
>>> a != b and isinstance(a, UUID)
True
"""

from __future__ import annotations

import itertools
import threading

__all__ = ["UUID", "uuid"]

_lock = threading.Lock()
_counter = itertools.count()


class UUID:
    """A process-unique id: equal only to itself, hashable, ordered by creation."""

    __slots__ = ("_value",)

    def __init__(self, value: int) -> None:
        self._value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UUID) and other._value == self._value

    def __lt__(self, other: UUID) -> bool:
        return self._value < other._value

    def __hash__(self) -> int:
        return hash((UUID, self._value))

    def __repr__(self) -> str:
        return f"UUID({self._value})"


def uuid() -> UUID:
    """A new UUID, thread-safely."""
    with _lock:
        return UUID(next(_counter))
