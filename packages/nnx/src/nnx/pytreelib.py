"""``nnx.pytreelib``: flax 0.12's module of ``Pytree`` / ``Object`` and their field marks."""

from nnx_graph import (
    Data,
    Object,
    Pytree,
    Static,
    Variable,
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
    "check_pytree",
    "data",
    "dataclass",
    "has_data",
    "is_data",
    "register_data_type",
    "static",
]
