# ruff: noqa: I001  (sections follow the package dependency order, not the alphabet)
"""nnx: neural networks for JAX as plain Python objects.

``import nnx`` gives the whole public API; each section below comes from one package of
the workspace, which can also be installed and imported on its own. Packages most programs
never call (``nnx.metrics``, ``nnx.checkpoint``) are imported on first use, so
``import nnx`` stays cheap.
"""

from typing import TYPE_CHECKING, Any as _Any, TypeVar as _TypeVar
import importlib as _importlib

# -- nnx-graph: objects, variables, state and the functional API --------------------------
from nnx_graph import All as All
from nnx_graph import Dict as Dict
from nnx_graph import List as List
from nnx_graph import Any as Any
from nnx_graph import EscapedTraceError as EscapedTraceError
from nnx_graph import StaleCacheError as StaleCacheError
from nnx_graph import SowError as SowError
from nnx_graph import AttributeNotFoundError as AttributeNotFoundError
from nnx_graph import check_fast_path as check_fast_path
from nnx_graph import Everything as Everything
from nnx_graph import Filter as Filter
from nnx_graph import FlatState as FlatState
from nnx_graph import from_flat_state as from_flat_state
from nnx_graph import to_flat_state as to_flat_state
from nnx_graph import to_pure_dict as to_pure_dict
from nnx_graph import replace_by_pure_dict as replace_by_pure_dict
from nnx_graph import restore_int_paths as restore_int_paths
from nnx_graph import split_state as split_state
from nnx_graph import filter_state as filter_state
from nnx_graph import merge_state as merge_state
from nnx_graph import map_state as map_state
from nnx_graph import as_pure as as_pure
from nnx_graph import pure as pure
from nnx_graph import FilterError as FilterError
from nnx_graph import FilterWarning as FilterWarning
from nnx_graph import GraphDef as GraphDef
from nnx_graph import apply_axis_rules as apply_axis_rules
from nnx_graph import GraphError as GraphError
from nnx_graph import HijaxNotSupportedError as HijaxNotSupportedError
from nnx_graph import Module as Module
from nnx_graph import Not as Not
from nnx_graph import Nothing as Nothing
from nnx_graph import Object as Object
from nnx_graph import Pytree as Pytree
from nnx_graph import data as data
from nnx_graph import Data as Data
from nnx_graph import Static as Static
from nnx_graph import is_data as is_data
from nnx_graph import has_data as has_data
from nnx_graph import check_pytree as check_pytree
from nnx_graph import field as field
from nnx_graph import dataclass as dataclass
from nnx_graph import register_data_type as register_data_type
from nnx_graph import static as static
from nnx_graph import OfType as OfType
from nnx_graph import PathContains as PathContains
from nnx_graph import State as State
from nnx_graph import StateMismatchError as StateMismatchError
from nnx_graph import StaticAttributeError as StaticAttributeError
from nnx_graph import TraceContextError as TraceContextError
from nnx_graph import Variable as Variable
from nnx_graph import VariableState as VariableState
from nnx_graph import WithTag as WithTag
from nnx_graph import clone as clone
from nnx_graph import graphdef as graphdef
from nnx_graph import iter_graph as iter_graph
from nnx_graph import iter_children as iter_children
from nnx_graph import iter_module_children as iter_module_children
from nnx_graph import merge as merge
from nnx_graph import pop as pop
from nnx_graph import set_metadata as set_metadata
from nnx_graph import set_graph_mode as set_graph_mode
from nnx_graph import set_graph_updates as set_graph_updates
from nnx_graph import split as split
from nnx_graph import state as state
from nnx_graph import update as update
from nnx_graph import CallableProxy as CallableProxy
from nnx_graph import PureState as PureState
from nnx_graph import call as call
from nnx_graph import capture as capture
from nnx_graph import GraphState as GraphState
from nnx_graph import unpack as unpack
from nnx_graph import VarDefaults as VarDefaults
from nnx_graph import var_defaults as var_defaults
from nnx_graph import with_vars as with_vars
from nnx_graph import vars_as as vars_as
from nnx_graph import NodeStates as NodeStates
from nnx_graph import from_tree as from_tree
from nnx_graph import to_tree as to_tree
from nnx_graph import MergeContext as MergeContext
from nnx_graph import SplitContext as SplitContext
from nnx_graph import UpdateContext as UpdateContext
from nnx_graph import current_update_context as current_update_context
from nnx_graph import merge_context as merge_context
from nnx_graph import split_context as split_context
from nnx_graph import update_context as update_context
from nnx_graph import find_duplicates as find_duplicates
from nnx_graph import map as map
from nnx_graph import recursive_map as recursive_map
from nnx_graph import iter_modules as iter_modules
from nnx_graph import view as view
from nnx_graph import view_info as view_info
from nnx_graph import with_attributes as with_attributes

# -- nnx-variables: variable kinds and RNG streams -------------------------------------
from nnx_variables import BatchStat as BatchStat
from nnx_variables import Cache as Cache
from nnx_variables import Intermediate as Intermediate
from nnx_variables import Param as Param
from nnx_variables import SplitBackups as SplitBackups
from nnx_variables import fork_rngs as fork_rngs
from nnx_variables import restore_rngs as restore_rngs
from nnx_variables import reseed as reseed
from nnx_variables import Perturbation as Perturbation
from nnx_variables import RngCount as RngCount
from nnx_variables import RngKey as RngKey
from nnx_variables import Rngs as Rngs
from nnx_variables import RngState as RngState
from nnx_variables import RngStream as RngStream
from nnx_variables import VariableMetadata as VariableMetadata
from nnx_variables import get_named_sharding as get_named_sharding
from nnx_variables import get_partition_spec as get_partition_spec
from nnx_variables import get_logical_axis_rules as get_logical_axis_rules
from nnx_variables import logical_axis_rules as logical_axis_rules
from nnx_variables import with_metadata as with_metadata
from nnx_variables import with_partitioning as with_partitioning
from nnx_variables import with_rngs as with_rngs
from nnx_variables import fork as fork
from nnx_variables import ForkStates as ForkStates
from nnx_variables import register_variable_name as register_variable_name
from nnx_variables import variable_name_from_type as variable_name_from_type
from nnx_variables import variable_type_from_name as variable_type_from_name
from nnx_variables import as_abstract as as_abstract
from nnx_variables import abstract_with_sharding as abstract_with_sharding
from nnx_variables import use_eager_sharding as use_eager_sharding
from nnx_variables import using_eager_sharding as using_eager_sharding

# -- nnx-transforms: object-aware jit, grad, vmap, scan, ... --------------------------
from nnx_transforms import Carry as Carry
from nnx_transforms import DiffState as DiffState
from nnx_transforms import JitWrapped as JitWrapped
from nnx_transforms import JitPartialWrapped as JitPartialWrapped
from nnx_transforms import cached_partial as cached_partial
from nnx_transforms import PARTITION_NAME as PARTITION_NAME
from nnx_transforms import prefix as prefix
from nnx_transforms import with_sharding_constraint as with_sharding_constraint
from nnx_transforms import transform_metadata as transform_metadata
from nnx_transforms import StateAxes as StateAxes
from nnx_transforms import StateSharding as StateSharding
from nnx_transforms import checkify as checkify
from nnx_transforms import cond as cond
from nnx_transforms import custom_vjp as custom_vjp
from nnx_transforms import eval_shape as eval_shape
from nnx_transforms import get_abstract_model as get_abstract_model
from nnx_transforms import fori_loop as fori_loop
from nnx_transforms import grad as grad
from nnx_transforms import jit as jit
from nnx_transforms import jit_partial as jit_partial
from nnx_transforms import jvp as jvp
from nnx_transforms import make_jaxpr as make_jaxpr
from nnx_transforms import pmap as pmap
from nnx_transforms import vjp as vjp
from nnx_transforms import remat as remat
from nnx_transforms import scan as scan
from nnx_transforms import shard_map as shard_map
from nnx_transforms import split_rngs as split_rngs
from nnx_transforms import switch as switch
from nnx_transforms import value_and_grad as value_and_grad
from nnx_transforms import vmap as vmap
from nnx_transforms import while_loop as while_loop

# -- nnx-layers: Linear, Dropout, BatchNorm, activations, initializers, ... ------------
from nnx_layers import BatchNorm as BatchNorm
from nnx_layers import Bidirectional as Bidirectional
from nnx_layers import Conv as Conv
from nnx_layers import ConvTranspose as ConvTranspose
from nnx_layers import Dropout as Dropout
from nnx_layers import Einsum as Einsum
from nnx_layers import Embed as Embed
from nnx_layers import GroupNorm as GroupNorm
from nnx_layers import GRUCell as GRUCell
from nnx_layers import InstanceNorm as InstanceNorm
from nnx_layers import LayerInputError as LayerInputError
from nnx_layers import LayerNorm as LayerNorm
from nnx_layers import Linear as Linear
from nnx_layers import LinearGeneral as LinearGeneral
from nnx_layers import LoRA as LoRA
from nnx_layers import LSTMCell as LSTMCell
from nnx_layers import LoRALinear as LoRALinear
from nnx_layers import LoRAParam as LoRAParam
from nnx_layers import MultiHeadAttention as MultiHeadAttention
from nnx_layers import OptimizedLSTMCell as OptimizedLSTMCell
from nnx_layers import RMSNorm as RMSNorm
from nnx_layers import RNN as RNN
from nnx_layers import Sequential as Sequential
from nnx_layers import SpectralNorm as SpectralNorm
from nnx_layers import WeightNorm as WeightNorm
from nnx_layers import SimpleCell as SimpleCell
from nnx_layers import PReLU as PReLU
from nnx_layers import RNNCellBase as RNNCellBase
from nnx_layers import Initializer as Initializer
from nnx_layers import celu as celu
from nnx_layers import combine_masks as combine_masks
from nnx_layers import dot_product_attention as dot_product_attention
from nnx_layers import dot_product_attention_weights as dot_product_attention_weights
from nnx_layers import elu as elu
from nnx_layers import gelu as gelu
from nnx_layers import glu as glu
from nnx_layers import hard_sigmoid as hard_sigmoid
from nnx_layers import hard_silu as hard_silu
from nnx_layers import hard_swish as hard_swish
from nnx_layers import hard_tanh as hard_tanh
from nnx_layers import identity as identity
from nnx_layers import initializers as initializers
from nnx_layers import leaky_relu as leaky_relu
from nnx_layers import log_sigmoid as log_sigmoid
from nnx_layers import log_softmax as log_softmax
from nnx_layers import logsumexp as logsumexp
from nnx_layers import make_attention_mask as make_attention_mask
from nnx_layers import make_causal_mask as make_causal_mask
from nnx_layers import mish as mish
from nnx_layers import one_hot as one_hot
from nnx_layers import relu as relu
from nnx_layers import relu6 as relu6
from nnx_layers import selu as selu
from nnx_layers import sigmoid as sigmoid
from nnx_layers import silu as silu
from nnx_layers import soft_sign as soft_sign
from nnx_layers import softmax as softmax
from nnx_layers import softplus as softplus
from nnx_layers import standardize as standardize
from nnx_layers import swish as swish
from nnx_layers import tanh as tanh
from nnx_layers import pool as pool
from nnx_layers import min_pool as min_pool
from nnx_layers import max_pool as max_pool
from nnx_layers import avg_pool as avg_pool

# -- nnx-optim: Optimizer over optax ---------------------------------------------------
from nnx_optim import OptState as OptState
from nnx_optim import OptArray as OptArray
from nnx_optim import OptVariable as OptVariable
from nnx_optim import EMA as EMA
from nnx_optim import ModelAndOptimizer as ModelAndOptimizer
from nnx_optim import Optimizer as Optimizer
from nnx_optim import TrainState as TrainState

# -- nnx-display: display() -------------------------------------------------------------
from nnx_display import display as display
from nnx_display import tabulate as tabulate

variables = state  # flax's other name for it: both return the model's own Variables

A = _TypeVar("A")  # the TypeVars flax's annotations import (``def f(m: nnx.M) -> nnx.M``)
M = _TypeVar("M")

# -- nnx-metrics, imported on first use: nnx.metrics, nnx.Metric, nnx.MultiMetric -------
if TYPE_CHECKING:
    from nnx import compat as compat
    from nnx import dataclasses as dataclasses
    from nnx import spmd as spmd
    from nnx import graph as graph
    from nnx.graph import flatten as flatten
    from nnx.graph import unflatten as unflatten
    from nnx import ids as ids
    from nnx import transforms as transforms
    from nnx import traversals as traversals
    from nnx import nn as nn
    from nnx import training as training
    from nnx import rnglib as rnglib
    from nnx import variablelib as variablelib
    from nnx import statelib as statelib
    from nnx import graphlib as graphlib
    from nnx import filterlib as filterlib
    from nnx import module as module
    from nnx import object as object
    from nnx import pytreelib as pytreelib
    from nnx import helpers as helpers
    from nnx import summary as summary
    from nnx import visualization as visualization
    from nnx import optimizer as optimizer
    import nnx_metrics as metrics  # noqa: F401  (bound by __getattr__ at run time)
    from nnx_metrics import Metric as Metric
    from nnx_metrics import MultiMetric as MultiMetric
    import nnx_checkpoint as checkpoint  # noqa: F401  (bound by __getattr__ at run time)

# The names flax.nnx exposes at its top level; the rest live in nnx.metrics only.
_LAZY = {
    "graph": ("nnx.graph", None),  # flax's namespaces, thin, over the packages' own names
    "flatten": ("nnx.graph", "flatten"),  # flax 0.12 has them at the top level too
    "unflatten": ("nnx.graph", "unflatten"),
    "traversals": ("nnx.traversals", None),
    "ids": ("nnx.ids", None),
    "transforms": ("nnx.transforms", None),
    "compat": ("nnx.compat", None),
    "dataclasses": ("nnx.dataclasses", None),
    "spmd": ("nnx.spmd", None),
    "nn": ("nnx.nn", None),  # flax's module paths: nnx.nn.linear.Linear, nnx.rnglib.Rngs
    "training": ("nnx.training", None),  # imports nnx_metrics (training.metrics)
    "rnglib": ("nnx.rnglib", None),
    "variablelib": ("nnx.variablelib", None),
    "statelib": ("nnx.statelib", None),
    "graphlib": ("nnx.graphlib", None),
    "filterlib": ("nnx.filterlib", None),
    "module": ("nnx.module", None),
    "object": ("nnx.object", None),
    "pytreelib": ("nnx.pytreelib", None),
    "helpers": ("nnx.helpers", None),
    "summary": ("nnx.summary", None),
    "visualization": ("nnx.visualization", None),
    "optimizer": ("nnx.optimizer", None),
    "metrics": ("nnx_metrics", None),
    "Metric": ("nnx_metrics", "Metric"),
    "MultiMetric": ("nnx_metrics", "MultiMetric"),
    "checkpoint": ("nnx_checkpoint", None),  # the only package that imports orbax
}


def __getattr__(name: str) -> _Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nnx' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = _importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
