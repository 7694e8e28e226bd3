"""nnx.with_vars / nnx.var_defaults: flax 0.12's switches for jax.Ref-backed Variables.

``hijax`` and ``ref`` Variables (values in a ``jax.Ref``) are not supported yet, so
asking for them raises ``HijaxNotSupportedError``; asking for what every Variable here
already is (``hijax=False``, ``ref=False``) works, so code that states its defaults runs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

from nnx_graph._errors import HijaxNotSupportedError, message
from nnx_graph._filters import Filter
from nnx_graph._functional import clone


class VarDefaults(NamedTuple):
    """The Variable defaults in force (always plain Variables here)."""

    hijax: bool = False
    ref: bool = False


def _refuse(op: str, **requested: bool | None) -> None:
    wanted = [name for name, value in requested.items() if value]
    if wanted:
        raise HijaxNotSupportedError(
            message(
                f"{op}: {' and '.join(f'{name}=True' for name in wanted)} asks for jax.Ref-"
                "backed Variables, which nnx does not support yet.",
                fix=f"leave {', '.join(wanted)} unset (plain Variables)",
            )
        )


def with_vars(
    node: Any,
    /,
    *,
    hijax: bool | None = None,
    ref: bool | None = None,
    mutable: bool | None = None,
    only: Filter = ...,
    allow_duplicates: bool = False,
) -> Any:
    """A copy of ``node``'s objects with its Variables as asked (plain ones only, for now).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Box(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(1))
    >>> box = Box()
    >>> with_vars(box, hijax=False).w is box.w
    True
    """
    _refuse("nnx.with_vars", hijax=hijax, ref=ref)
    if mutable is False:
        raise HijaxNotSupportedError(
            message(
                "nnx.with_vars: mutable=False asks for read-only Variables, which need "
                "jax.Ref-backed Variables (not supported yet).",
                fix="leave mutable unset",
            )
        )
    del only, allow_duplicates  # nothing changes, so nothing is selected or duplicated
    return clone(node, variables=False)


@contextlib.contextmanager
def _defaults() -> Iterator[VarDefaults]:
    yield VarDefaults()


def var_defaults(*, hijax: bool | None = None, ref: bool | None = None) -> Any:
    """The Variable defaults (no arguments), or a context setting them (plain only).

    >>> var_defaults()
    VarDefaults(hijax=False, ref=False)
    >>> with var_defaults(hijax=False):
    ...     pass
    """
    _refuse("nnx.var_defaults", hijax=hijax, ref=ref)
    if hijax is None and ref is None:
        return VarDefaults()
    return _defaults()


def vars_as(
    node: Any,
    /,
    *,
    hijax: bool | None = None,
    ref: bool | None = None,
    mutable: bool | None = None,
    only: Filter = ...,
    allow_duplicates: bool = False,
) -> Any:
    """Flax NNX 0.12's deprecated name of ``with_vars``: warns, then calls it.

    Kept so 0.12 code runs; the warning names the spelling to move to.
    """
    warnings.warn(
        "nnx.vars_as is deprecated: use nnx.with_vars (same arguments).",
        DeprecationWarning,
        stacklevel=2,
    )
    return with_vars(
        node,
        hijax=hijax,
        ref=ref,
        mutable=mutable,
        only=only,
        allow_duplicates=allow_duplicates,
    )
