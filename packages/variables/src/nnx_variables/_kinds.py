"""The standard Variable kinds.

A kind is a Variable subclass; filters select state by kind, so the kind says what a
value is for: ``Param`` is trained by the optimizer, ``BatchStat`` is updated by the
forward pass, ``Cache`` holds decoding caches, ``Intermediate`` holds values ``sow``
collected for inspection.
"""

from __future__ import annotations

from typing import Any, TypeVar

from nnx_graph import Variable

A = TypeVar("A")


class Param(Variable[A]):
    """A trainable parameter: what ``nnx.grad`` differentiates and the Optimizer updates.

    >>> import jax.numpy as jnp
    >>> Param(jnp.zeros(3)).shape
    (3,)
    """


class BatchStat(Variable[A]):
    """A statistic the forward pass updates (BatchNorm's running mean and variance)."""


class Cache(Variable[A]):
    """State kept between calls at inference time (e.g. an attention key/value cache)."""


class Intermediate(Variable[A]):
    """A value recorded by ``Module.sow`` for inspection, popped with ``nnx.pop``."""


class Perturbation(Intermediate[A]):
    """A zero-valued hook whose gradient is the gradient of an intermediate value."""


def variable_kinds() -> dict[str, type[Variable[Any]]]:
    """The built-in kinds by name (used by display and by error messages)."""
    return {kind.__name__: kind for kind in (Param, BatchStat, Cache, Intermediate, Perturbation)}
