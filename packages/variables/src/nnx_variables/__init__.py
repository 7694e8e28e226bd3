"""nnx-variables: the kinds of state a model holds, and its random number streams.

Every array a model owns lives in a Variable whose subclass says what it is for:
``Param`` (trained), ``BatchStat`` (updated by the forward pass), ``Cache``,
``Intermediate`` (recorded by ``Module.sow``). Filters select by kind, so
``nnx.split(model, nnx.Param, ...)`` separates the trainable values from the rest.

``Rngs`` holds named PRNG streams whose keys and counters are themselves Variables
(``RngKey``, ``RngCount``): randomness is state, and it moves through ``split``,
``merge`` and every transform like parameters do. The jax.random samplers are bound to
the streams (``rngs.normal(shape)``), and ``fork_rngs`` gives a graph's streams fresh
keys for a while.

Metadata rides along the same way. ``with_partitioning`` records, on each Variable an
initializer builds, which mesh axes its dimensions are split over; ``get_partition_spec``
and ``get_named_sharding`` turn a State's records into the trees ``jax.device_put`` and
``jax.jit`` take, so a model shards across a device mesh with JAX's own machinery. Given
a mesh, a Variable is placed as soon as it is built (``use_eager_sharding``, as 0.12).
"""

from nnx_graph import get_logical_axis_rules as get_logical_axis_rules
from nnx_graph import logical_axis_rules as logical_axis_rules
from nnx_graph import use_eager_sharding as use_eager_sharding
from nnx_graph import using_eager_sharding as using_eager_sharding
from nnx_variables._abstract import abstract_with_sharding as abstract_with_sharding
from nnx_variables._abstract import as_abstract as as_abstract
from nnx_variables._fork import ForkStates as ForkStates
from nnx_variables._fork import fork as fork
from nnx_variables._fork_rngs import SplitBackups as SplitBackups
from nnx_variables._fork_rngs import fork_rngs as fork_rngs
from nnx_variables._fork_rngs import fork_streams as fork_streams
from nnx_variables._fork_rngs import restore_rngs as restore_rngs
from nnx_variables._kinds import BatchStat as BatchStat
from nnx_variables._kinds import Cache as Cache
from nnx_variables._kinds import Intermediate as Intermediate
from nnx_variables._kinds import Param as Param
from nnx_variables._kinds import Perturbation as Perturbation
from nnx_variables._kinds import variable_kinds as variable_kinds
from nnx_variables._names import register_variable_name as register_variable_name
from nnx_variables._names import variable_name_from_type as variable_name_from_type
from nnx_variables._names import variable_type_from_name as variable_type_from_name
from nnx_variables._reseed import reseed as reseed
from nnx_variables._rngs import RngCount as RngCount
from nnx_variables._rngs import RngKey as RngKey
from nnx_variables._rngs import Rngs as Rngs
from nnx_variables._rngs import RngState as RngState
from nnx_variables._rngs import RngStream as RngStream
from nnx_variables._sharding import VariableMetadata as VariableMetadata
from nnx_variables._sharding import get_named_sharding as get_named_sharding
from nnx_variables._sharding import get_partition_spec as get_partition_spec
from nnx_variables._sharding import with_metadata as with_metadata
from nnx_variables._sharding import with_partitioning as with_partitioning
from nnx_variables._with_rngs import with_rngs as with_rngs
