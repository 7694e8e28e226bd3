"""``nnx.module``: flax's module of ``Module`` and the functions that walk or view modules.

``M`` is the umbrella's TypeVar (flax's ``nnx.M`` is this module's); ``GraphState`` and
``Object`` are the names flax 0.10's module had.
"""

from nnx import M
from nnx_graph import (
    GraphState,
    Module,
    Object,
    Pytree,
    State,
    capture,
    iter_children,
    iter_module_children,
    iter_modules,
    split_state,
    view,
    view_info,
    with_attributes,
)

__all__ = [
    "M",
    "GraphState",
    "Module",
    "Object",
    "Pytree",
    "State",
    "capture",
    "iter_children",
    "iter_module_children",
    "iter_modules",
    "split_state",
    "view",
    "view_info",
    "with_attributes",
]
