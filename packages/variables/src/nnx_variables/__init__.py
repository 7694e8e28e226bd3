"""nnx-variables: the kinds of state a model holds, and its random number streams.

Every array a model owns lives in a Variable whose subclass says what it is for:
``Param`` (trained), ``BatchStat`` (updated by the forward pass), ``Cache``,
``Intermediate`` (recorded by ``Module.sow``). Filters select by kind, so
``nnx.split(model, nnx.Param, ...)`` separates the trainable values from the rest.

``Rngs`` holds named PRNG streams whose keys and counters are themselves Variables
(``RngKey``, ``RngCount``): randomness is state, and it moves through ``split``,
``merge`` and every transform like parameters do.
"""

from nnx_variables._kinds import BatchStat as BatchStat
from nnx_variables._kinds import Cache as Cache
from nnx_variables._kinds import Intermediate as Intermediate
from nnx_variables._kinds import Param as Param
from nnx_variables._kinds import Perturbation as Perturbation
from nnx_variables._kinds import variable_kinds as variable_kinds
from nnx_variables._rngs import RngCount as RngCount
from nnx_variables._rngs import RngKey as RngKey
from nnx_variables._rngs import Rngs as Rngs
from nnx_variables._rngs import RngState as RngState
from nnx_variables._rngs import RngStream as RngStream
