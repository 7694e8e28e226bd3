"""Plain-text reprs: module trees with per-kind counts, States, GraphDefs, sharing, cycles."""

import jax
import jax.numpy as jnp
import numpy as np

import nnx_graph as ng


class Param(ng.Variable):
    pass


class BatchStat(ng.Variable):
    pass


class Linear(ng.Module):
    def __init__(self, din, dout):
        self.kernel = Param(jnp.zeros((din, dout)))
        self.bias = Param(jnp.zeros((dout,)))
        self.din = din


class Norm(ng.Module):
    def __init__(self, n):
        self.scale = Param(jnp.ones(n))
        self.mean = BatchStat(jnp.zeros(n))


class MLP(ng.Module):
    def __init__(self):
        self.linear1 = Linear(2, 16)
        self.norm = Norm(16)
        self.linear2 = Linear(16, 5)


def test_module_repr_is_a_tree_with_shapes_dtypes_and_counts():
    text = repr(MLP())
    assert text.splitlines()[0] == (
        "MLP( # Param: 149 (596 B), BatchStat: 16 (64 B), Total: 165 (660 B)"
    )
    assert "  linear1=Linear( # Param: 48 (192 B)" in text
    assert "    kernel=Param(value=Array(shape=(2, 16), dtype=float32))," in text
    assert "    din=2," in text
    assert "  norm=Norm( # Param: 16 (64 B), BatchStat: 16 (64 B), Total: 32 (128 B)" in text
    assert text.endswith("\n)")


def test_exact_small_module_repr():
    class Counter(ng.Module):
        def __init__(self):
            self.count = BatchStat(jnp.array(3, dtype=jnp.uint32))
            self.name = "c"

    assert repr(Counter()) == (
        "Counter( # BatchStat: 1 (4 B)\n"
        "  count=BatchStat(value=Array(3, dtype=uint32)),\n"
        "  name='c',\n"
        ")"
    )


def test_empty_module_and_metadata():
    class Empty(ng.Module):
        pass

    assert repr(Empty()) == "Empty()"

    class Tagged(ng.Module):
        def __init__(self):
            self.w = Param(jnp.zeros(3), sharding=("data",), dtype=jnp.float32)

    assert (
        "w=Param(value=Array(shape=(3,), dtype=float32), out_sharding=('data',), dtype=float32)"
        in (repr(Tagged()))
    )


def test_shared_submodule_is_shown_once_and_counted_once():
    model = MLP()
    model.linear2 = model.linear1
    text = repr(model)
    assert text.count("Linear( #") == 1
    assert "linear2=<shared Linear: model.linear1>" in text
    # linear1's 48 params are not counted twice
    assert text.splitlines()[0].startswith("MLP( # Param: 64 (256 B)")


def test_shared_variable_is_referenced_by_path():
    model = Linear(2, 2)
    model.tied = [model.kernel]
    text = repr(model)
    assert "<shared Param: model.kernel>" in text
    assert "Param: 6 (24 B)" in text


def test_cycles_terminate_and_point_to_the_ancestor():
    model = MLP()
    model.norm.parent = model
    model.layers = {"first": model.linear1, "self": [model]}
    text = repr(model)
    assert "parent=<shared MLP: model>," in text
    assert "'first': <shared Linear: model.linear1>," in text
    assert "<shared MLP: model>," in text.split("'self'")[1]


def test_containers_of_modules_are_expanded_with_indexed_paths():
    class Stack(ng.Module):
        def __init__(self):
            self.layers = [Linear(1, 1), Linear(1, 1)]
            self.alias = self.layers[1]

    text = repr(Stack())
    assert "alias=<shared Linear: model.layers[1]>" in text
    assert "  layers=[\n    Linear( # Param: 2 (8 B)" in text


def test_bare_arrays_and_static_values():
    class Holder(ng.Module):
        def __init__(self):
            self.table = np.zeros((3, 4), np.int8)
            self.act = jax.nn.relu
            self.dtype = jnp.bfloat16

    text = repr(Holder())
    assert "table=ndarray(shape=(3, 4), dtype=int8)" in text
    assert "dtype=bfloat16" in text
    assert "act=<" in text  # a function keeps its repr


def test_counts_cover_scalars_pytrees_and_keys():
    class Mixed(ng.Module):
        def __init__(self):
            self.key = Param(jax.random.key(0))
            self.seen = BatchStat((jnp.ones(3), jnp.ones((2, 2), jnp.float16)))
            self.n = Param(2.0)

    text = repr(Mixed())
    first = text.splitlines()[0]
    assert "Param: 2 (16 B)" in first  # a key is 8 bytes; a Python float 8
    assert "BatchStat: 7 (20 B)" in first
    assert "key=Param(value=PRNGKeyArray(shape=(), dtype=key<fry>))" in text


def test_byte_units():
    class Big(ng.Module):
        def __init__(self):
            self.w = Param(jnp.zeros((500, 1000), jnp.float32))

    assert repr(Big()).startswith("Big( # Param: 500,000 (2.0 MB)")


def test_state_renders_as_nested_mapping_with_summaries():
    _, state = ng.split(MLP())
    text = ng.render_text(state)
    assert text.startswith("State({ # Param: 149 (596 B), BatchStat: 16 (64 B)")
    assert "  'linear1': { # Param: 48 (192 B)" in text
    assert "    'kernel': Param(value=Array(shape=(2, 16), dtype=float32))," in (text)


def test_filtered_states_count_only_their_kind():
    _, params, stats = ng.split(MLP(), Param, BatchStat)
    assert ng.render_text(stats).splitlines()[0] == "State({ # BatchStat: 16 (64 B)"
    assert "BatchStat" not in ng.render_text(params)


def test_graphdef_repr_shows_kinds_statics_and_sharing():
    model = MLP()
    model.linear2 = model.linear1
    text = repr(ng.graphdef(model))
    assert text.startswith("GraphDef(\n  MLP(\n")
    assert "    linear1=Linear(\n      bias=Param,\n      din=2,\n      kernel=Param,\n" in text
    assert "linear2=<shared: model.linear1>" in text
    assert "Array" not in text  # no values


def test_graphdef_repr_of_cycles_and_several_roots():
    model = MLP()
    model.norm.parent = model
    text = repr(ng.graphdef(model))
    assert "parent=<shared: model>" in text

    shared = Linear(1, 1)
    graphdef, _ = ng.split((shared, [shared]))
    text = repr(graphdef)
    assert "<shared: model[0]>" in text


def test_render_text_of_a_variable_and_a_pytree():
    assert ng.render_text(Param(jnp.ones(2))) == "Param(value=Array(shape=(2,), dtype=float32))"
    model = Linear(1, 1)
    text = ng.render_text({"model": model, "again": model}, root="args")
    assert "<shared Linear: args.model>" in text
