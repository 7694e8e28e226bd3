"""nnx-transforms: JAX transforms that accept Objects anywhere in their arguments.

``nnx.jit``, ``nnx.grad``, ``nnx.vmap``, ``nnx.scan`` and the rest behave like their JAX
counterparts, and add reference semantics: objects go in, the function mutates them as
in eager code, and the mutations are visible outside afterwards. Objects shared between
arguments stay shared. Underneath, every transform splits its object arguments into
pure pytrees, runs the JAX transform, and merges the results back (``_protocol``);
``nnx.jit`` skips the re-splitting while the graphs' structure is unchanged
(``_fastpath``).
"""

from nnx_transforms._axes import Carry as Carry
from nnx_transforms._axes import StateAxes as StateAxes
from nnx_transforms._checkify import checkify as checkify
from nnx_transforms._control import cond as cond
from nnx_transforms._control import fori_loop as fori_loop
from nnx_transforms._control import switch as switch
from nnx_transforms._control import while_loop as while_loop
from nnx_transforms._custom_vjp import custom_vjp as custom_vjp
from nnx_transforms._eval_shape import eval_shape as eval_shape
from nnx_transforms._eval_shape import get_abstract_model as get_abstract_model
from nnx_transforms._general import merge_inputs as merge_inputs
from nnx_transforms._general import split_inputs as split_inputs
from nnx_transforms._grad import DiffState as DiffState
from nnx_transforms._grad import grad as grad
from nnx_transforms._grad import value_and_grad as value_and_grad
from nnx_transforms._jit import JitWrapped as JitWrapped
from nnx_transforms._jit import jit as jit
from nnx_transforms._jit_partial import JitPartialWrapped as JitPartialWrapped
from nnx_transforms._jit_partial import cached_partial as cached_partial
from nnx_transforms._jit_partial import jit_partial as jit_partial
from nnx_transforms._jvp import jvp as jvp
from nnx_transforms._make_jaxpr import make_jaxpr as make_jaxpr
from nnx_transforms._partition import PARTITION_NAME as PARTITION_NAME
from nnx_transforms._partition import transform_metadata as transform_metadata
from nnx_transforms._pmap import pmap as pmap
from nnx_transforms._prefix import prefix as prefix
from nnx_transforms._remat import remat as remat
from nnx_transforms._scan import scan as scan
from nnx_transforms._shard_map import shard_map as shard_map
from nnx_transforms._split_rngs import split_rngs as split_rngs
from nnx_transforms._spmd import add_axis as add_axis
from nnx_transforms._spmd import remove_axis as remove_axis
from nnx_transforms._spmd import with_sharding_constraint as with_sharding_constraint
from nnx_transforms._state_sharding import StateSharding as StateSharding
from nnx_transforms._vjp import vjp as vjp
from nnx_transforms._vmap import vmap as vmap
