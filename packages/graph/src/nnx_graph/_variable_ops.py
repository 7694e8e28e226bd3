"""The operators of a Variable: arithmetic on its value, and in-place forms that keep it.

A Variable behaves like its value in expressions (``v + 1``, ``-v``, ``v < w``), and
``v += 1`` writes the new value into the Variable and keeps the Variable, as Flax NNX 0.10
does; without it Python would rebind ``v`` to a plain array, silently leaving the
Variable (a function argument, a list element) with its old value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "matmul": operator.matmul,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "divmod": divmod,
}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": operator.abs,
    "invert": operator.invert,
}


def install_operators(cls: type[Any]) -> None:
    """Give the Variable class ``cls`` its operators (values of other Variables unwrapped)."""

    def value_of(other: Any) -> Any:
        return other.value if isinstance(other, cls) else other

    def unary(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda self: op(self.value)

    def binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
        if reflected:
            return lambda self, other: op(value_of(other), self.value)
        return lambda self, other: op(self.value, value_of(other))

    def in_place(op: Callable[[Any, Any], Any]) -> Callable[..., Any]:
        def method(self: Any, other: Any) -> Any:
            self.value = op(self.value, value_of(other))
            return self

        return method

    for name, op in _BINARY.items():
        setattr(cls, f"__{name}__", binary(op))
        setattr(cls, f"__r{name}__", binary(op, reflected=True))
        if name != "divmod":  # divmod has no in-place form
            setattr(cls, f"__i{name}__", in_place(op))
    for name, op in _COMPARISONS.items():
        setattr(cls, f"__{name}__", binary(op))
    for name, unary_op in _UNARY.items():
        setattr(cls, f"__{name}__", unary(unary_op))
