"""nnx.List and nnx.Dict: list- and dict-shaped Modules, as Flax NNX 0.12 has them.

Plain ``list`` and ``dict`` attributes already hold state here (as in 0.10), so these
exist for code written for 0.12, where they are required. Each is a ``Module`` whose
entries are its attributes: an ``nnx.List``'s under the integer keys ``0 .. n-1`` (so
paths read ``model.layers[0].kernel``, as for a plain list), an ``nnx.Dict``'s under its
keys. Being Objects, they are walked, shared, split and merged like any Module, with no
new case in the graph walk or the cache.

Never stale: every edit (``append``, ``l[i] = x``, ``del d[k]``, ...) goes through
``_write`` / ``_delete``, which check the trace like ``Object.__setattr__`` does and bump
the structure epoch when a cached walk has seen the container, so ``nnx.jit``'s fast
path notices (see ``_cache``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping, MutableSequence
from typing import Any, TypeVar, overload

from nnx_graph import _tracking
from nnx_graph._object import Module

T = TypeVar("T")


class _Entries(Module):
    """Shared edit path: entries live in ``__dict__`` under their keys."""

    @property
    def _entries(self) -> dict[Any, Any]:
        return self.__dict__  # keys are ints (List) or any hashable (Dict), not only str

    def _write(self, key: Any, value: Any) -> None:
        self.check_trace(str(key))
        if self._nnx_watched:
            _tracking.bump_epoch()  # before and after the write: see nnx_graph._tracking
        self._entries[key] = value
        if self._nnx_watched:
            _tracking.bump_epoch()

    def _delete(self, key: Any) -> None:
        self.check_trace(str(key))
        if self._nnx_watched:
            _tracking.bump_epoch()
        del self._entries[key]
        if self._nnx_watched:
            _tracking.bump_epoch()


class List(_Entries, MutableSequence[T]):
    """A list that is a Module: its items are graph state, indexed ``0 .. n-1``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable, state
    >>> layers = List([Variable(jnp.ones(2)), Variable(jnp.zeros(2))])
    >>> layers.append(Variable(jnp.ones(1)))
    >>> len(layers), sorted(state(layers).flat_dict())
    (3, [(0,), (1,), (2,)])
    """

    def __init__(self, items: Iterable[T] = ()) -> None:
        for i, item in enumerate(items):
            self._entries[i] = item

    def _items(self) -> list[T]:
        entries = self._entries
        return [entries[i] for i in range(len(entries))]

    def _replace_all(self, items: list[T]) -> None:
        self.check_trace()
        if self._nnx_watched:
            _tracking.bump_epoch()
        entries = self._entries
        entries.clear()
        entries.update(enumerate(items))
        if self._nnx_watched:
            _tracking.bump_epoch()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self._items()[index]
        return self._entries[self._position(index)]  # type: ignore[no-any-return]

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            items = self._items()
            items[index] = value
            self._replace_all(items)
        else:
            self._write(self._position(index), value)

    def __delitem__(self, index: int | slice) -> None:
        items = self._items()
        del items[index]
        self._replace_all(items)

    def insert(self, index: int, value: T) -> None:
        """Insert ``value`` before ``index``, as ``list.insert`` does."""
        items = self._items()
        items.insert(index, value)
        self._replace_all(items)

    def append(self, value: T) -> None:
        """Add ``value`` at the end (one new entry, no renumbering)."""
        self._write(len(self), value)

    def _position(self, index: int) -> int:
        n = len(self)
        position = index + n if index < 0 else index
        if not 0 <= position < n:
            raise IndexError(f"nnx.List index {index} out of range for a List of {n} items")
        return position

    def __eq__(self, other: object) -> bool:
        if isinstance(other, List | list):
            return self._items() == list(other)
        return NotImplemented

    __hash__ = Module.__hash__


class Dict(_Entries, MutableMapping[Any, Any]):
    """A dict that is a Module: its values are graph state, read as ``d[k]`` or ``d.k``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> heads = Dict(a=Variable(jnp.ones(2)))
    >>> heads['b'] = Variable(jnp.zeros(2))
    >>> heads.a is heads['a'], sorted(heads)
    (True, ['a', 'b'])
    """

    def __init__(self, *args: Mapping[Any, Any] | Iterable[tuple[Any, Any]], **kwargs: Any) -> None:
        self._entries.update(dict(*args, **kwargs))

    def __getitem__(self, key: Any) -> Any:
        return self._entries[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._write(key, value)

    def __delitem__(self, key: Any) -> None:
        self._delete(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._entries) == dict(other)
        return NotImplemented

    __hash__ = Module.__hash__
