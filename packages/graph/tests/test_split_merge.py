"""split / merge / clone / graphdef: structure and sharing survive the round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Count(ng.Variable):
    pass


class Linear(ng.Module):
    def __init__(self, din, dout):
        self.w = Param(jnp.ones((din, dout)))
        self.b = Param(jnp.zeros(dout))
        self.din, self.dout = din, dout

    def __call__(self, x):
        return x @ self.w + self.b


class Model(ng.Module):
    def __init__(self):
        self.encoder = Linear(2, 3)
        self.decoder = Linear(3, 2)
        self.decoder.w = self.encoder.w.replace(jnp.ones((3, 2)))  # a fresh box
        self.tied = self.encoder  # shared module
        self.layers = [Linear(2, 2), (Linear(2, 2), "tag"), {"head": Linear(2, 1)}]
        self.scale = jnp.array(2.0)  # a bare array attribute
        self.count = Count(jnp.array(0))
        self.name = "model"
        self.activation = jax.nn.relu


def test_split_gives_graphdef_and_state_by_path():
    graphdef, state = ng.split(Model())
    assert isinstance(graphdef, ng.GraphDef) and isinstance(state, ng.State)
    flat = state.flat_dict()
    assert ("encoder", "w") in flat and ("tied", "w") not in flat  # shared: first path only
    assert ("layers", 1, 0, "w") in flat and ("layers", 2, "head", "b") in flat
    assert isinstance(flat[("scale",)], jax.Array)  # bare arrays are leaves as they are
    assert flat[("count",)].type is Count


def test_merge_rebuilds_a_fresh_equal_graph():
    model = Model()
    copy = ng.merge(*ng.split(model))
    assert copy is not model and copy.encoder is not model.encoder
    assert copy.tied is copy.encoder  # sharing survives
    assert copy.layers[1][1] == "tag" and copy.name == "model"
    assert copy.activation is jax.nn.relu
    assert type(copy.layers) is list and type(copy.layers[1]) is tuple
    x = jnp.ones((1, 2))
    np.testing.assert_allclose(copy.encoder(x), model.encoder(x))
    assert ng.graphdef(copy) == ng.graphdef(model)
    assert ng.state(copy) == ng.state(model)


def test_merged_graph_is_independent_of_the_original():
    model = Model()
    copy = ng.merge(*ng.split(model), copy=True)
    copy.encoder.w.value = jnp.zeros((2, 3))
    copy.layers.append(Linear(1, 1))
    assert float(model.encoder.w.value.sum()) == 6.0
    assert len(model.layers) == 3


def test_merge_shares_the_states_variables_as_flax_0_12_does():
    model = Model()
    graphdef, state = ng.split(model)
    assert state["encoder"]["w"] is model.encoder.w  # a State holds the model's Variables
    copy = ng.merge(graphdef, state)
    assert copy is not model and copy.encoder is not model.encoder
    assert copy.encoder.w is model.encoder.w
    state["encoder"]["w"].value = jnp.zeros((2, 3))  # the 0.10 spelling still updates
    ng.update(model, state)
    assert float(model.encoder.w.value.sum()) == 0.0


def test_shared_variables_and_cycles_round_trip():
    a = ng.Module()
    a.child = ng.Module()
    a.child.parent = a  # a cycle
    shared = Param(jnp.ones(2))
    a.x = shared
    a.child.y = shared
    a.items = [shared, shared]
    graphdef, state = ng.split(a)
    assert list(state.flat_dict()) == [("child", "y")]
    b = ng.merge(graphdef, state)
    assert b.child.parent is b
    assert b.x is b.child.y is b.items[0] is b.items[1]
    assert ng.graphdef(b) == graphdef


def test_shared_containers_round_trip():
    model = ng.Module()
    stash = [Param(jnp.ones(1))]
    model.a = stash
    model.b = {"same": stash}
    copy = ng.clone(model)
    assert copy.a is copy.b["same"] and copy.a is not stash


def test_clone_keeps_sharing_and_values():
    model = Model()
    copy = ng.clone(model)
    assert copy.tied is copy.encoder and copy is not model
    assert ng.state(copy) == ng.state(model)


def test_split_with_filters_then_merge_in_any_order():
    model = Model()
    graphdef, params, rest = ng.split(model, Param, ...)
    assert {s.type for s in params.flat_dict().values()} == {Param}
    assert ("count",) in rest.flat_dict() and ("scale",) in rest.flat_dict()
    for states in ((params, rest), (rest, params)):
        copy = ng.merge(graphdef, *states)
        assert ng.state(copy) == ng.state(model)


def test_split_graphdef_does_not_depend_on_filters():
    model = Model()
    assert ng.split(model)[0] == ng.split(model, Param, Count, ...)[0] == ng.graphdef(model)


def test_empty_filter_states_are_empty():
    _, nothing, everything = ng.split(Model(), None, ...)
    assert len(nothing) == 0 and len(everything.flat_dict()) > 0


def test_graphdef_is_hashable_equal_by_structure_and_a_leafless_pytree():
    g1, g2 = ng.graphdef(Model()), ng.graphdef(Model())
    assert g1 == g2 and hash(g1) == hash(g2) and g1 is not g2
    assert jax.tree.leaves(g1) == []
    assert jax.tree.map(lambda x: x, g1) == g1
    other = Model()
    other.name = "other"
    assert ng.graphdef(other) != g1
    resized = Model()
    resized.encoder.dout = 4
    assert ng.graphdef(resized) != g1
    assert g1 != "not a graphdef"


def test_graphdef_ignores_values_but_not_kinds():
    a, b = Model(), Model()
    b.encoder.w.value = jnp.zeros((5, 5))  # shapes live in the State, not the GraphDef
    assert ng.graphdef(a) == ng.graphdef(b)
    b.count = Param(jnp.array(0))
    assert ng.graphdef(a) != ng.graphdef(b)


def test_graphdef_as_jit_argument_caches_by_structure():
    traces = []

    @jax.jit
    def forward(graphdef, state, x):
        traces.append(1)
        model = ng.merge(graphdef, state)
        return model.encoder(x), ng.split(model)[1]

    x = jnp.ones((1, 2))
    model = Model()
    y, _ = forward(*ng.split(model), x)
    np.testing.assert_allclose(y, model.encoder(x))
    forward(*ng.split(Model()), x)
    assert len(traces) == 1  # equal GraphDefs hit the cache
    changed = Model()
    changed.name = "changed"
    forward(*ng.split(changed), x)
    assert len(traces) == 2


def test_graphdef_as_jit_output():
    out = jax.jit(lambda s: (ng.graphdef(Model()), s))(jnp.ones(1))
    assert out[0] == ng.graphdef(Model())


def test_several_modules_in_a_container_keep_cross_sharing():
    a, b = Linear(1, 1), Linear(1, 1)
    b.w = a.w
    pair = ng.merge(*ng.split([a, b]))
    assert pair[0].w is pair[1].w and pair[0] is not a


def test_split_of_a_bare_variable_root_explains_the_fix():
    # split of a bare Variable works as in flax 0.12 (test_bare_variable); state has no
    # paths to key a State by.
    with pytest.raises(
        TypeError, match=r"(?s)nnx.state needs a graph root.*in a Param.*nnx.state\(\[variable\]\)"
    ):
        ng.state(Param(jnp.ones(1)))
    with pytest.raises(TypeError, match=r"(?s)nnx.state needs a graph root.*Array"):
        ng.state(jnp.ones(1))
    graphdef, state = ng.split([Param(jnp.ones(1))])
    assert type(ng.merge(graphdef, state)[0]) is Param


def test_merge_needs_a_graphdef_first():
    _, state = ng.split(Model())
    with pytest.raises(
        TypeError, match=r"(?s)expected a GraphDef first, got State.*nnx.merge\(graphdef, state\)"
    ):
        ng.merge(state, state)


def test_merge_accepts_plain_nested_dicts_of_states():
    graphdef, state = ng.split(Linear(1, 2))
    copy = ng.merge(graphdef, {"w": state["w"], "b": state["b"]})
    assert type(copy.w) is Param


def test_merge_rejects_non_states_with_the_fix():
    graphdef, _ = ng.split(Linear(1, 2))
    with pytest.raises(TypeError, match=r"(?s)nnx.merge expected States, got list.*nnx.split"):
        ng.merge(graphdef, [1, 2])


def test_modules_without_init_round_trip():
    class Bare(ng.Module):
        pass

    bare = Bare()
    copy = ng.merge(*ng.split(bare))
    assert type(copy) is Bare and copy is not bare
    copy.x = 1  # fresh objects are writable in the current trace


def test_static_values_of_different_types_give_different_graphdefs():
    def with_flag(flag):
        model = ng.Module()
        model.flag = flag
        return ng.graphdef(model)

    assert with_flag(True) != with_flag(1)


def test_dicts_keep_their_insertion_order_through_merge():
    model = ng.Module()
    model.layers = {"second": ng.Variable(jnp.ones(1)), "first": ng.Variable(jnp.zeros(1))}
    copy = ng.merge(*ng.split(model))
    assert list(copy.layers) == ["second", "first"]


def test_namedtuple_fields_keep_their_own_paths():
    import collections

    Pair = collections.namedtuple("Pair", "first second")
    model = ng.Module()
    model.pair = Pair(ng.Variable(jnp.zeros(1)), ng.Variable(jnp.ones(1)))
    _, state = ng.split(model)
    assert set(state.flat_dict()) == {("pair", "first"), ("pair", "second")}
    copy = ng.merge(*ng.split(model))
    assert isinstance(copy.pair, Pair) and float(copy.pair.second.value[0]) == 1.0


def test_clone_variables_and_arrays_options_as_flax_0_12():
    import jax.numpy as jnp

    class Box(ng.Module):
        def __init__(self):
            self.w = ng.Variable(jnp.ones(2))
            self.tied = self.w

    box = Box()
    deep = ng.clone(box)
    assert deep.w is not box.w and deep.tied is deep.w and deep.w.value is box.w.value
    view = ng.clone(box, variables=False)
    assert view is not box and view.w is box.w
    arrays = ng.clone(box, arrays=True)
    assert arrays.w is not box.w and arrays.w.value is not box.w.value
    assert bool((arrays.w.value == box.w.value).all())


def test_merge_wraps_a_raw_value_in_the_graphdefs_variable_unless_told_not_to():
    graphdef = ng.graphdef(Linear(2, 3))
    raw = {"w": jnp.full((2, 3), 2.0), "b": jnp.ones(3)}
    rebuilt = ng.merge(graphdef, raw)
    assert type(rebuilt.w) is Param and type(rebuilt.b) is Param
    bare = ng.merge(graphdef, raw, recreate_variables=False)
    assert not isinstance(bare.w, ng.Variable)
    np.testing.assert_array_equal(bare.w, raw["w"])
    unpacked = ng.unpack(Linear(2, 3))
    assert ng.merge(unpacked, recreate_variables=False).w is unpacked["w"]  # Variables stay
