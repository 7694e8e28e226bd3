"""``nnx.filterlib``: flax's module of filters, over ours.

``to_predicate`` (a filter turned into a ``(path, value) -> bool`` predicate) is only here,
as in flax; every other name is also at ``nnx``'s top level.

>>> import nnx
>>> nnx.filterlib.to_predicate(nnx.Param)((), nnx.Param(0))
True
"""

from nnx_graph import (
    All,
    Any,
    Everything,
    Filter,
    Not,
    Nothing,
    OfType,
    PathContains,
    WithTag,
    to_predicate,
)

__all__ = [
    "All",
    "Any",
    "Everything",
    "Filter",
    "Not",
    "Nothing",
    "OfType",
    "PathContains",
    "WithTag",
    "to_predicate",
]
