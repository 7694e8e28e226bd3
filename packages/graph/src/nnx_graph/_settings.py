"""Thread-local switches with Flax NNX 0.12's three forms: plain call, ``with``, decorator.

``set_graph_mode``, ``set_graph_updates`` and ``use_eager_sharding`` are each one
subclass naming its stack; the default of every switch is True.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Stacks(threading.local):
    def __init__(self) -> None:
        self.by_name: dict[str, list[bool]] = {}


_STACKS = _Stacks()


class Setting:
    """A thread-local default with flax's plain-call / ``with`` / decorator forms.

    The constructor sets the value at once (replacing the innermost one, or pushing the
    first); ``with`` restores the replaced value on exit; as a decorator the constructor's
    change is undone and the value applies only while the function runs.
    """

    name: ClassVar[str]

    @classmethod
    def _stack(cls) -> list[bool]:
        return _STACKS.by_name.setdefault(cls.name, [])

    def __init__(self, value: bool, /) -> None:
        stack = self._stack()
        self._previous = stack[-1] if stack else None
        if stack:
            stack[-1] = value
        else:
            stack.append(value)
        self._value = value

    @classmethod
    def current_value(cls) -> bool:
        """The value in effect now (True unless something set it)."""
        stack = cls._stack()
        return stack[-1] if stack else True

    def __enter__(self) -> None:
        if self._previous is not None:
            self._stack().insert(-1, self._previous)

    def __exit__(self, *exc: object) -> None:
        self._stack().pop()

    def __call__(self, f: F) -> F:
        stack = self._stack()
        stack.pop()
        if self._previous is not None:
            stack.append(self._previous)

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._stack().append(self._value)
            try:
                return f(*args, **kwargs)
            finally:
                self._stack().pop()

        return wrapper  # type: ignore[return-value]  # same signature as f
