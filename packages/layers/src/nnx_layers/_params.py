"""What a layer hands on beyond its arrays: Param metadata, and options for its product.

Every layer builds its parameters through ``make_param``, so the ``*_metadata=``
keywords of flax 0.12 (``kernel_metadata``, ``scale_metadata``, ...) mean the same thing
on every layer: their entries become metadata of the Param, merged with the metadata an
initializer wrapped by ``with_partitioning``/``with_metadata`` returns, in the order
flax 0.12.8 merges them. ``check_metadata`` refuses a keyword that is not a mapping
before the layer draws any key. ``product_options`` is the one place that decides which
optional keywords a layer passes to its ``dot_general``/``conv``/``einsum``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, overload

import jax
import jax.numpy as jnp

from nnx_graph import Variable, describe, message
from nnx_variables import Param, Rngs

V = TypeVar("V", bound=Variable[Any])

# The default of every ``*_metadata`` keyword: read-only, so one object serves them all.
NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def check_metadata(op: str, **keywords: Any) -> None:
    """Refuse ``*_metadata`` keywords that are not mappings, before any key is drawn.

    >>> check_metadata('nnx.Linear', kernel_metadata={'sharding': ('a', 'b')})
    """
    problems = [
        f"{keyword}: {describe(metadata)} is not a mapping"
        for keyword, metadata in keywords.items()
        if not isinstance(metadata, Mapping)
    ]
    if problems:
        first = next(k for k, m in keywords.items() if not isinstance(m, Mapping))
        raise TypeError(
            message(
                f"{op}: metadata keywords must be mappings of metadata names to values.",
                problems,
                expected="a dict such as {'sharding': ('a', 'b')}",
                fix=f"{op}(..., {first}={{'sharding': ('a', 'b')}})",
            )
        )


@overload
def make_param(
    value: Any, metadata: Mapping[str, Any], *, shape: tuple[int, ...] | None = None
) -> Param[Any]: ...
@overload
def make_param(
    value: Any, metadata: Mapping[str, Any], *, shape: tuple[int, ...] | None = None, kind: type[V]
) -> V: ...
def make_param(
    value: Any,
    metadata: Mapping[str, Any],
    *,
    shape: tuple[int, ...] | None = None,
    kind: type[Variable[Any]] = Param,
) -> Variable[Any]:
    """A ``kind`` (``Param``) holding ``value`` with a layer keyword's ``metadata``.

    ``value`` is an initializer's output, possibly boxed with metadata of its own; the
    box's entries win over the keyword's, except a keyword ``sharding`` (or
    ``sharding_names``): flax 0.12.8 merges the box over the keyword too, but then renames
    the old spelling to the box's ``out_sharding`` and so overwrites the box's; the
    Variable's own renaming does the same here. ``shape`` reshapes the raw value (a layer
    that draws a flat kernel, as ``LinearGeneral`` does), keeping the box's metadata.

    >>> import jax.numpy as jnp
    >>> make_param(jnp.zeros(2), {'note': 'hi'}).note
    'hi'
    """
    unbox = getattr(type(value), "__nnx_unbox__", None)
    raw, boxed = unbox(value) if unbox is not None else (value, {})
    if shape is not None:
        raw = jnp.reshape(raw, shape)
    return kind(raw, **{**metadata, **boxed})


def optional_param(
    use: bool,
    init: Callable[..., Any],
    rngs: Rngs,
    shape: tuple[int, ...],
    dtype: Any,
    metadata: Mapping[str, Any],
) -> Param[jax.Array] | None:
    """``init``'s Param (drawing one ``rngs.params()`` key) when ``use``, else ``None``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> optional_param(False, jnp.zeros, Rngs(0), (2,), jnp.float32, {}) is None
    True
    """
    if not use:
        return None
    return make_param(init(rngs.params(), shape, dtype), metadata)


def product_options(preferred_element_type: Any, out_sharding: Any) -> dict[str, Any]:
    """The optional keywords for a layer's product, each passed only when set.

    flax passes ``out_sharding`` always (``None`` when unset), which breaks a custom
    ``dot_general`` written before the keyword existed; passing neither when unset keeps
    such functions working and gives JAX's defaults all the same.

    >>> product_options(None, None)
    {}
    """
    options: dict[str, Any] = {}
    if preferred_element_type is not None:
        options["preferred_element_type"] = preferred_element_type
    if out_sharding is not None:
        options["out_sharding"] = out_sharding
    return options
