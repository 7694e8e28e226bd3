"""flax's namespaces (nnx.graph, nnx.nn.linear, nnx.rnglib, ...) over our names."""

import importlib
import inspect
import subprocess
import sys
import warnings

import jax.numpy as jnp
import pytest

import nnx


class Block(nnx.Module):
    def __init__(self):
        self.a = nnx.Param(jnp.ones(2))
        self.tied = self.a


def test_graph_flatten_and_unflatten_round_trip_with_sharing():
    block = Block()
    graphdef, flat = nnx.graph.flatten(block)
    assert isinstance(flat, nnx.FlatState) and flat.paths == (("a",),)
    rebuilt = nnx.graph.unflatten(graphdef, flat)
    assert rebuilt.tied is rebuilt.a
    graphdef, leaves = nnx.graph.flatten(block, with_paths=False)
    assert len(leaves) == 1
    assert isinstance(nnx.graph.unflatten(graphdef, leaves), Block)


def test_ref_map_keys_by_identity():
    a, b = Block(), Block()
    refs = nnx.graph.RefMap()
    refs[a.a] = "a"
    assert a.a in refs and b.a not in refs and refs[a.a] == "a"
    assert list(refs) == [a.a] and len(refs) == 1
    del refs[a.a]
    assert not refs


def test_traversals_flatten_and_unflatten_mappings():
    nested = {"a": {"b": 1, "c": {}}, "d": 2}
    flat = nnx.traversals.flatten_mapping(nested)
    assert flat == {("a", "b"): 1, ("d",): 2}
    kept = nnx.traversals.flatten_mapping(nested, keep_empty_nodes=True, sep="/")
    assert kept["a/c"] is nnx.traversals.empty_node
    assert nnx.traversals.unflatten_mapping(kept, sep="/") == nested
    state_dict = nnx.state(Block()).to_pure_dict()
    assert set(nnx.traversals.flatten_mapping(state_dict)) == {("a",)}


def test_ids_are_unique_and_ordered():
    first, second = nnx.ids.uuid(), nnx.ids.uuid()
    assert first != second and first < second and len({first, second}) == 2


def test_compat_keeps_graph_mode_inside_tree_mode():
    class Tied(nnx.Module):
        def __init__(self):
            self.a = nnx.Param(jnp.ones(2))
            self.b = self.a  # shared: tree mode refuses it

    model = Tied()
    with nnx.set_graph_mode(False):
        graphdef, state = nnx.compat.split(model)
        step = nnx.compat.jit(lambda m: m.a.value.sum())
        assert float(step(model)) == 2.0
    rebuilt = nnx.merge(graphdef, state)
    assert rebuilt.a is rebuilt.b
    with nnx.set_graph_mode(False), pytest.raises(ValueError, match="shared"):
        nnx.split(model)  # what compat protects against


# flax's module paths (nnx.nn.linear.Linear, nnx.rnglib.Rngs, ...): each namespace's names
# are nnx's own top-level objects, or those of the namespace it stands for.
NAMESPACES = [
    "nn.activations",
    "nn.attention",
    "nn.initializers",
    "nn.linear",
    "nn.lora",
    "nn.normalization",
    "nn.recurrent",
    "nn.stochastic",
    "training.ema",
    "training.metrics",
    "training.optimizer",
    "rnglib",
    "variablelib",
    "statelib",
    "graph",
    "graphlib",
    "filterlib",
    "module",
    "object",
    "pytreelib",
    "helpers",
    "summary",
    "visualization",
    "optimizer",
]
# Where a namespace's names live when not at nnx's top level (flax keeps them there too).
HOMES = {"nn.initializers": "initializers", "training.metrics": "metrics"}
NAMESPACE_ONLY = {("filterlib", "to_predicate"), ("graph", "RefMap"), ("graphlib", "RefMap")}


def _namespace(path: str):
    return importlib.import_module(f"nnx.{path}")


@pytest.mark.parametrize("path", NAMESPACES)
def test_namespace_names_are_the_top_level_objects(path):
    namespace = _namespace(path)
    home = getattr(nnx, HOMES[path]) if path in HOMES else nnx
    names = [n for n in namespace.__all__ if (path, n) not in NAMESPACE_ONLY]
    assert names and all(hasattr(namespace, n) for n in namespace.__all__)
    expected = {n: getattr(home, n) if hasattr(home, n) else getattr(nnx, n) for n in names}
    different = [n for n in names if getattr(namespace, n) is not expected[n]]
    assert not different, f"nnx.{path} has its own {different}"


def test_namespace_only_names():
    import nnx_graph

    assert nnx.filterlib.to_predicate is nnx_graph.to_predicate
    assert nnx.graphlib.RefMap is nnx.graph.RefMap
    assert nnx.graph.flatten is nnx.flatten
    assert nnx.nn.dtypes.promote_dtype is nnx.Linear(1, 1, rngs=nnx.Rngs(0)).promote_dtype
    assert str(nnx.nn.dtypes.canonicalize_dtype(1, 2.0)) == "float32"


def test_flax_import_styles_work():
    import nnx.nn.initializers
    from nnx.nn.linear import Linear
    from nnx.rnglib import Rngs
    from nnx.training.metrics import Average

    assert nnx.nn.initializers.zeros is nnx.initializers.zeros
    assert (Linear, Rngs, Average) == (nnx.Linear, nnx.Rngs, nnx.metrics.Average)
    assert nnx.nn.linear.Linear is nnx.Linear and nnx.nn.attention.MultiHeadAttention
    assert nnx.training.optimizer.Optimizer is nnx.optimizer.Optimizer is nnx.Optimizer
    assert nnx.variablelib.VariableState is nnx.VariableState
    assert nnx.module.M is nnx.M and nnx.variablelib.A is nnx.A

    def init(rngs: nnx.rnglib.Rngs) -> nnx.nn.linear.Linear:
        return nnx.nn.linear.Linear(2, 3, rngs=rngs)

    assert init(nnx.Rngs(0)).kernel.value.shape == (2, 3)


def test_namespaces_load_on_first_use():
    code = (
        "import sys, nnx\n"
        "print(any(m in sys.modules for m in ('nnx.nn', 'nnx.rnglib', 'nnx.training')))\n"
        "print({'nn', 'training', 'rnglib', 'object'} <= set(dir(nnx)))\n"
        "nnx.rnglib.Rngs, nnx.optimizer.Optimizer, nnx.nn.linear.Linear\n"
        "print('nnx_metrics' in sys.modules)\n"
        "nnx.training.metrics.Average\n"
        "print('nnx_metrics' in sys.modules, nnx.object.Object is nnx.Object)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False", "True", "True"]


def _flax_public(module):
    """flax's public names in ``module`` that are the very objects of flax.nnx's top level."""
    fnnx = sys.modules["flax.nnx"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # flax's VariableState alias
        values = {n: getattr(module, n) for n in dir(module) if not n.startswith("_")}
        top = {n: getattr(fnnx, n, None) for n in values}
    return {n for n, v in values.items() if not inspect.ismodule(v) and top[n] is v}


@pytest.mark.parametrize("path", NAMESPACES)
def test_namespaces_have_flax_names_we_export(path):
    fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")
    theirs = fnnx
    for part in path.split("."):
        theirs = getattr(theirs, part)
    ours = _namespace(path)
    if path in HOMES:  # flax's own module holds these; we have them under nnx.<home>
        home = getattr(nnx, HOMES[path])
        expected = {n for n in dir(theirs) if not n.startswith("_") and hasattr(home, n)}
        expected -= {n for n in expected if inspect.ismodule(getattr(home, n))}
    else:
        expected = {n for n in _flax_public(theirs) if hasattr(nnx, n)}
    missing = sorted(expected - set(ours.__all__))
    assert not missing, f"nnx.{path} lacks {missing}, which flax's has and nnx exports"


def test_nn_and_training_have_flax_submodules():
    fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")
    for package in ("nn", "training"):
        theirs = {n for n, v in vars(getattr(fnnx, package)).items() if inspect.ismodule(v)}
        assert all(hasattr(getattr(nnx, package), n) for n in theirs), (package, theirs)
