"""``nnx.spmd``: flax's sharding helpers under their flax module name.

>>> import nnx
>>> nnx.spmd.PARTITION_NAME
'partition_name'
"""

from nnx_transforms import PARTITION_NAME
from nnx_transforms import add_axis as add_axis
from nnx_transforms import remove_axis as remove_axis
from nnx_transforms import with_sharding_constraint as with_sharding_constraint
from nnx_variables import get_named_sharding as get_named_sharding
from nnx_variables import get_partition_spec as get_partition_spec
from nnx_variables import with_partitioning as with_partitioning

__all__ = [
    "PARTITION_NAME",
    "add_axis",
    "get_named_sharding",
    "get_partition_spec",
    "remove_axis",
    "with_partitioning",
    "with_sharding_constraint",
]
