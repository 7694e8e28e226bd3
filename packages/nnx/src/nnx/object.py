"""``nnx.object``: flax's name for ``nnx.pytreelib`` (0.12), and 0.10's ``Object`` module.

``VariableState`` is the name flax 0.10's module had.
"""

from nnx_graph import (
    Data,
    Object,
    Pytree,
    Static,
    Variable,
    VariableState,
    check_pytree,
    data,
    dataclass,
    has_data,
    is_data,
    register_data_type,
    static,
)

__all__ = [
    "Data",
    "Object",
    "Pytree",
    "Static",
    "Variable",
    "VariableState",
    "check_pytree",
    "data",
    "dataclass",
    "has_data",
    "is_data",
    "register_data_type",
    "static",
]
