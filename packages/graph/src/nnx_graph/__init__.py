"""nnx-graph: models as Python object graphs that JAX can still see as pytrees.

An ``Object`` (and its subclass ``Module``) is an ordinary mutable Python object whose
attributes form a graph: sub-objects, ``Variable`` boxes holding arrays, and containers
of those, with sharing and cycles allowed. ``split`` turns a graph into a hashable
``GraphDef`` (its structure) and ``State`` (its values, a pytree); ``merge`` builds a
graph back and ``update`` writes a State into an existing one. Filters (a Variable kind,
``...``, ``PathContains('bias')``, ...) choose which values go in which State.

The lower-level ``flatten`` / ``unflatten`` / ``FlatGraph`` and the structure epoch are
the protocol the transforms package builds on; most users never need them.
"""

from nnx_graph import _pytree as _pytree  # registers Objects as jax pytrees
from nnx_graph._axis_rules import apply_axis_rules as apply_axis_rules
from nnx_graph._axis_rules import get_logical_axis_rules as get_logical_axis_rules
from nnx_graph._axis_rules import logical_axis_rules as logical_axis_rules
from nnx_graph._cache import GraphCache as GraphCache
from nnx_graph._cache import check_fast_path as check_fast_path
from nnx_graph._cache import checking_fast_path as checking_fast_path
from nnx_graph._calls import CallableProxy as CallableProxy
from nnx_graph._calls import PureState as PureState
from nnx_graph._calls import call as call
from nnx_graph._capture import capture as capture
from nnx_graph._children import iter_children as iter_children
from nnx_graph._children import iter_module_children as iter_module_children
from nnx_graph._containers import Dict as Dict
from nnx_graph._containers import List as List
from nnx_graph._contexts import MergeContext as MergeContext
from nnx_graph._contexts import SplitContext as SplitContext
from nnx_graph._contexts import UpdateContext as UpdateContext
from nnx_graph._contexts import current_update_context as current_update_context
from nnx_graph._contexts import merge_context as merge_context
from nnx_graph._contexts import split_context as split_context
from nnx_graph._contexts import update_context as update_context
from nnx_graph._data import check_pytree as check_pytree
from nnx_graph._data import has_data as has_data
from nnx_graph._data import is_data as is_data
from nnx_graph._eager_sharding import spec_axis_names as spec_axis_names
from nnx_graph._eager_sharding import use_eager_sharding as use_eager_sharding
from nnx_graph._eager_sharding import using_eager_sharding as using_eager_sharding
from nnx_graph._errors import AttributeNotFoundError as AttributeNotFoundError
from nnx_graph._errors import EscapedTraceError as EscapedTraceError
from nnx_graph._errors import FilterError as FilterError
from nnx_graph._errors import FilterWarning as FilterWarning
from nnx_graph._errors import GraphError as GraphError
from nnx_graph._errors import HijaxNotSupportedError as HijaxNotSupportedError
from nnx_graph._errors import LayerInputError as LayerInputError
from nnx_graph._errors import SowError as SowError
from nnx_graph._errors import StaleCacheError as StaleCacheError
from nnx_graph._errors import StateMismatchError as StateMismatchError
from nnx_graph._errors import StaticAttributeError as StaticAttributeError
from nnx_graph._errors import TraceContextError as TraceContextError
from nnx_graph._errors import describe as describe
from nnx_graph._errors import message as message
from nnx_graph._filters import All as All
from nnx_graph._filters import Any_ as Any_
from nnx_graph._filters import Everything as Everything
from nnx_graph._filters import Filter as Filter
from nnx_graph._filters import Not as Not
from nnx_graph._filters import Nothing as Nothing
from nnx_graph._filters import OfType as OfType
from nnx_graph._filters import PathContains as PathContains
from nnx_graph._filters import WithTag as WithTag
from nnx_graph._filters import to_predicate as to_predicate
from nnx_graph._flat_state import FlatState as FlatState
from nnx_graph._flat_state import from_flat_state as from_flat_state
from nnx_graph._flat_state import to_flat_state as to_flat_state
from nnx_graph._flatgraph import FlatGraph as FlatGraph
from nnx_graph._flatgraph import node_trace_ref as node_trace_ref
from nnx_graph._flatgraph import read_slot as read_slot
from nnx_graph._flatten import flatten as flatten
from nnx_graph._flatten import mark_escaped as mark_escaped
from nnx_graph._flatten import unflatten as unflatten
from nnx_graph._functional import clone as clone
from nnx_graph._functional import graphdef as graphdef
from nnx_graph._functional import iter_graph as iter_graph
from nnx_graph._functional import merge as merge
from nnx_graph._functional import pop as pop
from nnx_graph._functional import set_metadata as set_metadata
from nnx_graph._functional import split as split
from nnx_graph._functional import state as state
from nnx_graph._functional import update as update
from nnx_graph._graphdef import GraphDef as GraphDef
from nnx_graph._maps import map as map
from nnx_graph._maps import recursive_map as recursive_map
from nnx_graph._marks import Data as Data
from nnx_graph._marks import Static as Static
from nnx_graph._marks import data as data
from nnx_graph._marks import dataclass as dataclass
from nnx_graph._marks import field as field
from nnx_graph._marks import register_data_type as register_data_type
from nnx_graph._marks import static as static
from nnx_graph._modes import check_tree as check_tree
from nnx_graph._modes import resolve_graph as resolve_graph
from nnx_graph._modes import resolve_updates as resolve_updates
from nnx_graph._modes import set_graph_mode as set_graph_mode
from nnx_graph._modes import set_graph_updates as set_graph_updates
from nnx_graph._modes import shared_paths as shared_paths
from nnx_graph._object import CALL_OBSERVERS as CALL_OBSERVERS
from nnx_graph._object import Module as Module
from nnx_graph._object import Object as Object
from nnx_graph._paths import Path as Path
from nnx_graph._paths import format_path as format_path
from nnx_graph._paths import root_name as root_name
from nnx_graph._repr import render_text as render_text
from nnx_graph._repr import size_summary as size_summary
from nnx_graph._state import State as State
from nnx_graph._state import replace_by_pure_dict as replace_by_pure_dict
from nnx_graph._state import to_pure_dict as to_pure_dict
from nnx_graph._state_functions import as_pure as as_pure
from nnx_graph._state_functions import filter_state as filter_state
from nnx_graph._state_functions import map_state as map_state
from nnx_graph._state_functions import merge_state as merge_state
from nnx_graph._state_functions import pure as pure
from nnx_graph._state_functions import restore_int_paths as restore_int_paths
from nnx_graph._state_functions import split_state as split_state
from nnx_graph._static import ByValue as ByValue
from nnx_graph._to_tree import NodeStates as NodeStates
from nnx_graph._to_tree import from_tree as from_tree
from nnx_graph._to_tree import to_tree as to_tree
from nnx_graph._tracking import bump_epoch as bump_epoch
from nnx_graph._tracking import current_trace as current_trace
from nnx_graph._tracking import current_trace_ref as current_trace_ref
from nnx_graph._tracking import structure_epoch as structure_epoch
from nnx_graph._unpack import GraphState as GraphState
from nnx_graph._unpack import unpack as unpack
from nnx_graph._var_defaults import VarDefaults as VarDefaults
from nnx_graph._var_defaults import var_defaults as var_defaults
from nnx_graph._var_defaults import vars_as as vars_as
from nnx_graph._var_defaults import with_vars as with_vars
from nnx_graph._variable import EscapedValue as EscapedValue
from nnx_graph._variable import Variable as Variable
from nnx_graph._variable_state import VariableState as VariableState
from nnx_graph._views import find_duplicates as find_duplicates
from nnx_graph._views import iter_modules as iter_modules
from nnx_graph._views import view as view
from nnx_graph._views import view_info as view_info
from nnx_graph._views import with_attributes as with_attributes

Any = Any_  # the public name; Any_ avoids shadowing typing.Any inside the package
Pytree = Object  # flax 0.12's name for the base of every graph node
