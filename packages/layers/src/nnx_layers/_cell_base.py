"""RNNCellBase: the contract between a recurrent cell and ``RNN``.

``RNN`` only ever calls a cell's step, its ``initialize_carry`` and reads its
``num_feature_axes``; this base class names the three, so a user's cell and the built-in
ones (in ``_recurrent``) are scanned the same way, and a member left out fails on first
use with the definition to add.
"""

from __future__ import annotations

from typing import Any

import jax

from nnx_graph import Module, message
from nnx_layers.initializers import Initializer
from nnx_variables import Rngs, RngStream

Carry = Any


class RNNCellBase(Module):
    """The base class of recurrent cells: one step, its initial carry, its feature axes.

    ``RNN`` scans any subclass over a sequence, so a custom cell overrides the three
    members below; each raises ``NotImplementedError`` until it is overridden, so a
    forgotten one fails on first use, naming itself.

    >>> import jax.numpy as jnp
    >>> class Accumulate(RNNCellBase):
    ...     def initialize_carry(self, input_shape, rngs=None, carry_init=None):
    ...         return jnp.zeros(input_shape)
    ...     def __call__(self, carry, inputs):
    ...         carry = carry + inputs
    ...         return carry, carry
    ...     @property
    ...     def num_feature_axes(self):
    ...         return 1
    >>> from nnx_layers import RNN
    >>> RNN(Accumulate())(jnp.ones((1, 3, 2)))[0, :, 0].tolist()
    [1.0, 2.0, 3.0]
    """

    def initialize_carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None = None,
        carry_init: Initializer | None = None,
    ) -> Carry:
        """The carry before the first step, for one step's input of ``input_shape``.

        Args:
            input_shape: the shape of one step's input, ``(*batch, features)``.
            rngs: the streams a random ``carry_init`` draws from.
            carry_init: how to fill the carry (zeros when not given).
        """
        raise NotImplementedError(
            _missing(
                self,
                "initialize_carry",
                "def initialize_carry(self, input_shape, rngs=None, carry_init=None): ...",
            )
        )

    def __call__(self, carry: Carry, inputs: jax.Array) -> tuple[Carry, Any]:
        """One step: ``(new_carry, output)`` from the carry and this step's ``inputs``."""
        raise NotImplementedError(
            _missing(self, "__call__", "def __call__(self, carry, inputs): ...")
        )

    @property
    def num_feature_axes(self) -> int:
        """How many trailing axes of an input are features (the rest: batch, time)."""
        raise NotImplementedError(
            _missing(
                self, "num_feature_axes", "@property\n    def num_feature_axes(self): return 1"
            )
        )


def _missing(cell: RNNCellBase, member: str, definition: str) -> str:
    """The message for a cell that left ``member`` to RNNCellBase: how to define it."""
    return message(
        f"{type(cell).__name__}.{member}: the cell does not define {member}, which "
        "RNNCellBase leaves to its subclasses.",
        expected=f"{type(cell).__name__} to override initialize_carry, __call__ and "
        "num_feature_axes",
        fix=f"class {type(cell).__name__}(nnx.RNNCellBase):\n    {definition}",
    )
