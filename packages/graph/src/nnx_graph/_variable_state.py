"""VariableState: the 0.10 name of a State leaf, which is a Variable now (as in 0.12).

``isinstance(leaf, VariableState)`` holds for every Variable, and the 0.10 constructor
``VariableState(Param, value, **metadata)`` builds that kind of Variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnx_graph._variable import Variable


class _VariableStateMeta(type):
    """The metaclass that makes ``VariableState`` stand for every Variable."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Variable)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, Variable)

    def __call__(
        cls, kind: type[Variable[Any]], value: Any, metadata: Any = None, **more: Any
    ) -> Any:
        variable: Variable[Any] = object.__new__(kind)
        Variable.__init__(variable, value, **{**(metadata or {}), **more})
        return variable


if TYPE_CHECKING:  # to a type checker, the 0.10 name is the Variable it stands for
    VariableState = Variable
else:

    class VariableState(metaclass=_VariableStateMeta):
        """The 0.10 name of a State leaf. States hold Variables now (as in Flax NNX 0.12).

        >>> import jax.numpy as jnp
        >>> state = VariableState(Variable, jnp.ones(2))
        >>> type(state).__name__, isinstance(state, VariableState), state.type.__name__
        ('Variable', True, 'Variable')
        """
