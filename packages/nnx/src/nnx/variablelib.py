"""``nnx.variablelib``: flax's module of ``Variable`` and its kinds, over ours.

``A`` is the umbrella's TypeVar (flax's ``nnx.A`` is this module's).
"""

from nnx import A
from nnx_graph import (
    VarDefaults,
    Variable,
    VariableState,
    use_eager_sharding,
    using_eager_sharding,
    var_defaults,
)
from nnx_variables import (
    BatchStat,
    Cache,
    Intermediate,
    Param,
    Perturbation,
    VariableMetadata,
    register_variable_name,
    variable_name_from_type,
    variable_type_from_name,
    with_metadata,
)

__all__ = [
    "A",
    "BatchStat",
    "Cache",
    "Intermediate",
    "Param",
    "Perturbation",
    "VarDefaults",
    "Variable",
    "VariableMetadata",
    "VariableState",
    "register_variable_name",
    "use_eager_sharding",
    "using_eager_sharding",
    "var_defaults",
    "variable_name_from_type",
    "variable_type_from_name",
    "with_metadata",
]
