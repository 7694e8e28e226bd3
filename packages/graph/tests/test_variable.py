"""Variable: a mutable box that behaves like its value and keeps its metadata."""

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Count(ng.Variable):
    pass


class Block(ng.Module):
    def __init__(self):
        self.w = Param(jnp.arange(3.0), sharding=("data",), description="weights")
        self.count = Count(jnp.array(0))


# -- value access ----------------------------------------------------------------------


def test_value_and_ellipsis_index_read_and_write_the_same_box():
    v = Param(jnp.arange(3.0))
    assert v[...] is v.value
    v[...] = jnp.ones(3)
    np.testing.assert_array_equal(v.value, jnp.ones(3))
    v.value = jnp.zeros(3)
    np.testing.assert_array_equal(v[...], jnp.zeros(3))


def test_item_assignment_updates_jax_and_numpy_values_functionally():
    v = Param(jnp.arange(3.0))
    original = v.value
    v[1] = 10.0
    np.testing.assert_array_equal(v.value, [0.0, 10.0, 2.0])
    np.testing.assert_array_equal(original, [0.0, 1.0, 2.0])  # jax arrays are immutable
    n = Param(np.arange(3.0))
    held = n.value
    n[0] = 7.0
    np.testing.assert_array_equal(n.value, [7.0, 1.0, 2.0])
    np.testing.assert_array_equal(held, [0.0, 1.0, 2.0])  # the old array was copied


def test_indexing_reads_through_to_the_value():
    v = Param(jnp.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(v[1], [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(v[:, 0], [0.0, 3.0])
    assert v.shape == (2, 3) and v.dtype == jnp.float32  # attributes of the value
    assert len(v) == 2


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda v: v + 1, [2.0, 3.0]),
        (lambda v: 1 + v, [2.0, 3.0]),
        (lambda v: v - 1, [0.0, 1.0]),
        (lambda v: 5 - v, [4.0, 3.0]),
        (lambda v: v * v, [1.0, 4.0]),
        (lambda v: v / 2, [0.5, 1.0]),
        (lambda v: 2 / v, [2.0, 1.0]),
        (lambda v: v // 2, [0.0, 1.0]),
        (lambda v: v % 2, [1.0, 0.0]),
        (lambda v: v**2, [1.0, 4.0]),
        (lambda v: 2**v, [2.0, 4.0]),
        (lambda v: -v, [-1.0, -2.0]),
        (lambda v: +v, [1.0, 2.0]),
        (lambda v: abs(-v), [1.0, 2.0]),
        (lambda v: v + Param(jnp.ones(2)), [2.0, 3.0]),
    ],
)
def test_arithmetic_acts_on_the_value(expression, expected):
    result = expression(Param(jnp.array([1.0, 2.0])))
    assert isinstance(result, jax.Array)
    np.testing.assert_allclose(result, expected)


def test_matmul_both_ways():
    w = Param(jnp.eye(2) * 2)
    x = jnp.array([[1.0, 3.0]])
    np.testing.assert_allclose(x @ w, [[2.0, 6.0]])
    np.testing.assert_allclose(w @ x.T, [[2.0], [6.0]])


def test_comparisons_and_bitwise_ops():
    v = Param(jnp.array([1, 2, 3]))
    np.testing.assert_array_equal(v < 2, [True, False, False])
    np.testing.assert_array_equal(v <= 2, [True, True, False])
    np.testing.assert_array_equal(v > 2, [False, False, True])
    np.testing.assert_array_equal(v >= 2, [False, True, True])
    np.testing.assert_array_equal(v == 2, [False, True, False])
    np.testing.assert_array_equal(v != 2, [True, False, True])
    np.testing.assert_array_equal(v & 1, [1, 0, 1])
    np.testing.assert_array_equal(v | 4, [5, 6, 7])
    np.testing.assert_array_equal(v << 1, [2, 4, 6])
    np.testing.assert_array_equal(~v, [-2, -3, -4])


def test_python_conversions():
    v = Param(jnp.array(3))
    assert int(v) == 3 and float(v) == 3.0 and complex(v) == 3 + 0j
    assert [10, 20, 30, 40][v] == 40  # __index__
    assert bool(Param(jnp.array(1))) and not bool(Param(jnp.array(0)))
    assert list(Param(jnp.arange(2))) == [0, 1]


def test_hash_is_identity_even_though_eq_compares_values():
    a, b = Param(jnp.array(1)), Param(jnp.array(1))
    assert hash(a) != hash(b)
    assert len({a, b}) == 2
    c, d = Param(jnp.ones(2)), Param(jnp.ones(2))
    assert d in [d] and any(v is d for v in [c, d])
    with pytest.raises(ValueError, match="truth value"):
        _ = d in [c, d]  # c == d is elementwise, as in flax 0.12 (docs/migrating.md)


def test_jax_array_protocol_with_jax_conversions():
    v = Param(jnp.array([1.0, -2.0]))
    np.testing.assert_array_equal(jnp.asarray(v), [1.0, -2.0])
    np.testing.assert_array_equal(jnp.array(v), [1.0, -2.0])
    np.testing.assert_array_equal(np.asarray(v), [1.0, -2.0])
    assert np.asarray(v, dtype=np.int32).dtype == np.int32
    assert v.__jax_array__() is v.value


@pytest.mark.parametrize(
    "fn",
    [jnp.sum, jnp.tanh, jax.nn.relu, lambda v: jnp.dot(v, v), lambda v: jnp.add(v, 1)],
    ids=["sum", "tanh", "relu", "dot", "add"],
)
def test_jax_array_protocol_with_jnp_functions(fn):
    v = Param(jnp.array([1.0, -2.0]))
    np.testing.assert_allclose(fn(v), fn(v.value))


def test_jnp_functions_work_on_value():
    # The spelling that works on every jax version, used by the library's own layers.
    v = Param(jnp.array([1.0, -2.0]))
    np.testing.assert_allclose(jnp.sum(v.value), -1.0)
    np.testing.assert_allclose(jnp.sum(v[...]), -1.0)


# -- metadata --------------------------------------------------------------------------


def test_metadata_is_read_as_attributes_and_copied_by_get_metadata():
    v = Param(jnp.ones(1), sharding=("x",), tag="enc")
    assert v.out_sharding == ("x",) and v.tag == "enc"
    metadata = v.get_metadata()
    metadata["tag"] = "changed"
    assert v.tag == "enc"


def test_metadata_set_and_delete():
    v = Param(jnp.ones(1))
    v.description = "bias"
    assert v.get_metadata() == {"description": "bias"}
    del v.description
    assert v.get_metadata() == {}
    with pytest.raises(AttributeError, match="Param has no metadata 'description'"):
        del v.description


def test_unknown_attribute_names_metadata_and_value():
    v = Param(jnp.ones(1))
    with pytest.raises(AttributeError, match=r"Param has no metadata 'nope' and its value"):
        _ = v.nope


def test_replace_keeps_kind_and_merges_metadata():
    v = Param(jnp.ones(2), a=1)
    w = v.replace(jnp.zeros(2), b=2)
    assert type(w) is Param and w is not v
    assert w.get_metadata() == {"a": 1, "b": 2}
    np.testing.assert_array_equal(v.value, jnp.ones(2))
    same_value = v.replace(a=3)
    assert same_value.value is v.value and same_value.a == 3


def test_to_state_and_back():
    v = Param(jnp.ones(2), a=1)
    state = v.to_state()
    assert state.type is Param and state.value is v.value and state.a == 1
    back = state.to_variable()
    assert type(back) is Param and back.get_metadata() == {"a": 1}
    assert back is not v


def test_variable_state_is_the_0_10_name_of_a_state_leaf():
    state = ng.VariableState(Param, jnp.ones(2), {"a": 1})
    assert type(state) is Param and isinstance(state, ng.VariableState)
    assert isinstance(Param(jnp.ones(1)), ng.VariableState)
    assert state.type is Param and state.metadata == {"a": 1}
    doubled = jax.tree.map(lambda x: x * 2, state)
    assert doubled.type is Param and doubled.metadata == {"a": 1}
    np.testing.assert_array_equal(doubled.value, [2.0, 2.0])
    assert ng.State({"x": doubled}) == ng.State({"x": state.replace(jnp.full(2, 2.0))})
    assert ng.State({"x": doubled}) != ng.State({"x": state})
    copy = state.to_variable()
    assert copy is not state and ng.State({"x": copy}) == ng.State({"x": state})
    with pytest.raises(AttributeError, match="has no metadata 'b'"):
        _ = state.b


def test_update_from_state_and_copy_from():
    v = Param(jnp.ones(1), a=1)
    v.update_from_state(ng.VariableState(Param, jnp.zeros(1), {"a": 2}))
    assert float(v.value[0]) == 0.0 and v.a == 2
    w = Param(jnp.full(1, 5.0), b=3)
    v.copy_from(w)
    assert float(v.value[0]) == 5.0 and v.get_metadata() == {"b": 3}


def test_copy_pickle_and_deepcopy_keep_kind_value_and_metadata():
    v = Param(np.arange(2.0), a=1)
    for clone in (copy.copy(v), copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert type(clone) is Param and clone is not v
        assert clone.get_metadata() == {"a": 1}
        np.testing.assert_array_equal(clone.value, v.value)
    assert copy.deepcopy(v).value is not v.value


def test_metadata_survives_split_and_merge():
    block = Block()
    _, state = ng.split(block)
    assert state["w"].get_metadata() == {"out_sharding": ("data",), "description": "weights"}
    rebuilt = ng.merge(*ng.split(block))
    assert type(rebuilt.w) is Param
    assert rebuilt.w.get_metadata() == block.w.get_metadata()
    assert type(rebuilt.count) is Count


def test_metadata_is_part_of_the_graphdef():
    a, b = Block(), Block()
    assert ng.graphdef(a) == ng.graphdef(b)
    b.w.sharding = ("model",)
    assert ng.graphdef(a) != ng.graphdef(b)


# -- misuse ----------------------------------------------------------------------------


def test_variable_of_a_variable_is_refused():
    with pytest.raises(
        TypeError, match=r"(?s)Param\(\.\.\.\) was given a Variable.*Param\(variable\.value\)"
    ):
        Param(Count(jnp.ones(1)))


def test_storing_a_variable_as_a_value_is_refused():
    v = Param(jnp.ones(1))
    with pytest.raises(
        TypeError, match=r"(?s)Cannot store a Variable \(Count\).*variable.value = other.value"
    ):
        v.value = Count(jnp.ones(1))
    np.testing.assert_array_equal(v.value, jnp.ones(1))


def test_repr_shows_kind_value_and_metadata():
    assert repr(Param(1, a=2)) == "Param(value=1, a=2)"
    assert "shape=(100,)" in repr(Param(jnp.zeros(100)))


IN_PLACE = [
    ("+=", lambda v, x: v.__iadd__(x), lambda a, x: a + x),
    ("-=", lambda v, x: v.__isub__(x), lambda a, x: a - x),
    ("*=", lambda v, x: v.__imul__(x), lambda a, x: a * x),
    ("/=", lambda v, x: v.__itruediv__(x), lambda a, x: a / x),
    ("//=", lambda v, x: v.__ifloordiv__(x), lambda a, x: a // x),
    ("%=", lambda v, x: v.__imod__(x), lambda a, x: a % x),
    ("**=", lambda v, x: v.__ipow__(x), lambda a, x: a**x),
    ("&=", lambda v, x: v.__iand__(x), lambda a, x: a & x),
    ("|=", lambda v, x: v.__ior__(x), lambda a, x: a | x),
    ("^=", lambda v, x: v.__ixor__(x), lambda a, x: a ^ x),
    ("<<=", lambda v, x: v.__ilshift__(x), lambda a, x: a << x),
    (">>=", lambda v, x: v.__irshift__(x), lambda a, x: a >> x),
]


@pytest.mark.parametrize(("name", "apply", "expected"), IN_PLACE, ids=[n for n, _, _ in IN_PLACE])
def test_in_place_operators_mutate_the_variable(name, apply, expected):
    start = jnp.array([6, 9], jnp.int32)
    v = Param(start)
    result = apply(v, 2)
    assert result is v and type(v) is Param
    np.testing.assert_array_equal(v.value, expected(start, 2))


def test_in_place_on_locals_list_items_and_matmul():
    v = Param(jnp.eye(2))
    w = v
    w @= jnp.full((2, 2), 2.0)
    assert w is v
    np.testing.assert_array_equal(v.value, jnp.full((2, 2), 2.0))
    counts = [Param(jnp.array(0))]
    counts[0] += 1
    assert type(counts[0]) is Param and int(counts[0].value) == 1


def test_in_place_on_an_attribute_keeps_the_variable_and_the_cache():
    class Box(ng.Module):
        def __init__(self):
            self.count = Param(jnp.array(0))

    box = Box()
    ng.split(box)  # cached: box is watched from now on
    epoch = ng.structure_epoch()
    box.count += 1
    assert int(box.count.value) == 1 and ng.structure_epoch() == epoch


# -- 0.12 accessors: get_value / set_value / get_raw_value / set_metadata ----------------


class Scaled(ng.Variable):
    """Stores half of what it is given and hands back double what it stores."""

    def get_value(self, **kwargs):
        return super().get_value(**kwargs) * 2

    def set_value(self, value, **kwargs):
        super().set_value(value / 2, **kwargs)


def test_get_value_and_set_value_overrides_are_honoured_by_every_access():
    v = Scaled(jnp.ones(3))
    np.testing.assert_array_equal(v[...], 2 * jnp.ones(3))
    np.testing.assert_array_equal(v.value, 2 * jnp.ones(3))
    assert float(v[1]) == 2.0
    np.testing.assert_array_equal(v + 1, 3 * jnp.ones(3))
    np.testing.assert_array_equal(jnp.sum(v), 6.0)
    v[...] = jnp.full(3, 8.0)
    np.testing.assert_array_equal(v.get_raw_value(), jnp.full(3, 4.0))
    v[0] = 2.0
    np.testing.assert_array_equal(v.get_raw_value(), jnp.array([1.0, 4.0, 4.0]))
    v.value = jnp.zeros(3)
    np.testing.assert_array_equal(v.get_raw_value(), jnp.zeros(3))


def test_get_value_index_and_set_value_index_on_arrays_and_numpy():
    v = Param(jnp.arange(4.0))
    assert float(v.get_value(index=2)) == 2.0
    assert v.get_value(index=None).shape == (1, 4)  # None is an index, not "whole"
    v.set_value(9.0, index=slice(0, 2))
    np.testing.assert_array_equal(v[...], jnp.array([9.0, 9.0, 2.0, 3.0]))
    n = Param(np.zeros(2))
    original = n.get_raw_value()
    n[1] = 5.0
    np.testing.assert_array_equal(n.get_raw_value(), [0.0, 5.0])
    assert original[1] == 0.0  # the write copied, the old array is unchanged


def test_set_value_checks_the_trace_like_the_value_setter():
    block = Block()

    @jax.jit
    def write(x):
        block.w.set_value(x)
        return x

    with pytest.raises(
        ng.TraceContextError, match=r"(?s)Cannot update a Param.*pass the module in"
    ):
        write(jnp.ones(3))
    np.testing.assert_array_equal(block.w[...], jnp.arange(3.0))


def test_set_metadata_in_its_three_forms_and_the_structure_epoch_moves():
    block = Block()
    ng.split(block)  # cached: metadata are structure from now on
    epoch = ng.structure_epoch()
    block.w.set_metadata(frozen=True)
    assert ng.structure_epoch() != epoch
    block.w.set_metadata("tag", "w")
    assert block.w.get_metadata() == {
        "out_sharding": ("data",),
        "description": "weights",
        "frozen": True,
        "tag": "w",
    }
    block.w.set_metadata({"tag": "only"})
    assert block.w.get_metadata() == {"tag": "only"}
    graphdef, state = ng.split(block)
    assert ng.merge(graphdef, state).w.tag == "only"


@pytest.mark.parametrize(
    "args, kwargs",
    [(("a", 1), {"b": 2}), (("a", 1, 2), {}), ((1, 2), {})],
    ids=["mixed", "three", "non-string-name"],
)
def test_set_metadata_refuses_arguments_it_cannot_read(args, kwargs):
    v = Param(1.0, a=0)
    with pytest.raises(
        TypeError, match=r"(?s)Param.set_metadata: cannot read.*variable.set_metadata\(name=value\)"
    ):
        v.set_metadata(*args, **kwargs)
    assert v.get_metadata() == {"a": 0}


def test_nnx_set_metadata_sets_every_selected_variable_of_a_graph():
    block = Block()
    shared = [block, block.w]
    ng.set_metadata(shared, differentiable=False, only=Param)
    assert block.w.get_metadata()["differentiable"] is False
    assert "differentiable" not in block.count.get_metadata()
    ng.set_metadata(block, tag="all")
    assert block.w.tag == block.count.tag == "all"


def test_nnx_set_metadata_changes_nothing_when_one_variable_belongs_to_another_trace():
    block = Block()

    @jax.jit
    def tag(x):
        ng.set_metadata(block, tag="inside")
        return x

    with pytest.raises(
        ng.TraceContextError,
        match=r"(?s)cannot change model.count.*Cannot update.*pass the module in",
    ):
        tag(jnp.ones(1))
    assert "tag" not in block.w.get_metadata() and "tag" not in block.count.get_metadata()


def test_from_metadata_rebuilds_a_variable_without_running_init():
    class Tagged(ng.Variable):
        def __init__(self, value):
            super().__init__(value, tag="from-init")

    v = Tagged.from_metadata(jnp.ones(2), {"tag": "given", "sharding": ("x",)})
    assert type(v) is Tagged
    assert v.get_metadata() == {"tag": "given", "out_sharding": ("x",)}
    again = Tagged.from_metadata(v.get_raw_value(), v.get_metadata())
    assert again.get_metadata() == v.get_metadata() and again is not v
    assert Param.from_metadata(1.0, {"hijax": False}).get_metadata() == {}


@pytest.mark.parametrize(
    "build",
    [
        lambda: Param(jnp.ones(2), hijax=True),
        lambda: Param.from_metadata(jnp.ones(2), {"hijax": True}),
        lambda: Param(jnp.ones(2)).set_metadata(hijax=True),
        lambda: Param(jnp.ones(2), ref=True),
        lambda: Param.from_metadata(jnp.ones(2), {"ref": True}),
        lambda: Param(jnp.ones(2)).set_metadata(ref=True),
    ],
    ids=[
        "constructor",
        "from_metadata",
        "set_metadata",
        "ref constructor",
        "ref from_metadata",
        "ref set_metadata",
    ],
)
def test_hijax_variables_are_refused_as_not_supported_yet(build):
    with pytest.raises(
        ng.HijaxNotSupportedError, match=r"(?s)hijax.*not supported yet.*Fix: Param\(value\)"
    ):
        build()
    assert issubclass(ng.HijaxNotSupportedError, NotImplementedError)


def test_hijax_false_is_accepted_and_not_kept_as_metadata():
    assert Param(1.0, hijax=False).get_metadata() == {}
    assert Param(1.0, ref=False).get_metadata() == {}
    assert Param(1.0, ref=False).get_metadata("ref") is False


def test_value_hooks_run_where_flax_runs_them():
    calls = []

    class Hooked(ng.Variable):
        def on_get_value(self, value):
            calls.append("get")
            return value * 2

        def on_set_value(self, value):
            calls.append("set")
            return value + 1

        def on_create_value(self, value):
            calls.append("create")
            return value

    v = Hooked(jnp.array(1.0))
    assert calls == ["create"]
    assert float(v.value) == 2.0 and calls == ["create", "get"]
    v.value = jnp.array(5.0)
    assert float(v.get_raw_value()) == 6.0 and calls[-1] == "set"
    assert float(v[...]) == 12.0 and calls[-1] == "get"
    calls.clear()
    copy = v.replace()  # a copy is not a creation
    assert calls == [] and float(copy.get_raw_value()) == 6.0


def test_value_hooks_given_as_metadata_take_the_variable_and_the_value():
    seen = []
    v = ng.Variable(
        jnp.ones(2),
        on_get_value=lambda var, x: x * 10,
        on_create_value=lambda var, x: x + 1,
        on_add_axis=lambda var, index, name: seen.append(("add", index, name)),
        on_remove_axis=lambda var, index, name: seen.append(("remove", index, name)),
    )
    np.testing.assert_array_equal(v.value, [20.0, 20.0])
    np.testing.assert_array_equal(v.get_raw_value(), [2.0, 2.0])
    v.add_axis(0, "batch")
    v.remove_axis(0, "batch")
    assert seen == [("add", 0, "batch"), ("remove", 0, "batch")]


def test_writing_a_captured_variable_under_plain_jax_jit_suggests_an_nnx_transform():
    count = ng.Variable(jnp.array(0))

    @jax.jit
    def step(x):
        count.value = count.value + 1
        return x

    with pytest.raises(ng.TraceContextError, match=r"(?s)nnx.jit\(step\)\(model, x\).*jax.jit"):
        step(1.0)
    assert int(count.value) == 0


def test_sharding_is_the_values_jax_sharding_and_the_names_are_out_sharding():
    # flax 0.12: ``v.sharding`` is the value's ``jax.sharding.Sharding``; the mesh axis
    # names (0.10's ``sharding`` metadata) are ``out_sharding``, which old keywords fill.
    v = Param(jnp.ones(2), sharding=("x",))
    assert isinstance(v.sharding, jax.sharding.Sharding)
    assert v.sharding == v.value.sharding
    assert v.out_sharding == ("x",)
    assert v.get_metadata() == {"out_sharding": ("x",)}


def test_get_metadata_reads_one_entry_and_flax_0_12s_required_entries_by_name():
    # 0.10's dict holds what was given; 0.12 adds hijax/ref/eager_sharding to it. Here the
    # dict stays 0.10's and the 0.12 entries are read by name, with their defaults.
    v = Param(jnp.ones(2), tag="w", sharding_names=("x",))
    assert v.get_metadata() == {"tag": "w", "out_sharding": ("x",)}
    assert v.get_metadata(exclude_required=True) == v.get_metadata()
    assert v.get_metadata("tag") == "w" and v.get_metadata("sharding") == ("x",)
    assert v.get_metadata("note", None) is None
    assert (v.get_metadata("hijax"), v.get_metadata("ref"), v.get_metadata("eager_sharding")) == (
        False,
        False,
        True,
    )
    assert (v.hijax, v.ref, v.eager_sharding, v.sharding_names) == (False, False, True, ("x",))
    with ng.use_eager_sharding(False):
        assert v.eager_sharding is False
    with pytest.raises(KeyError, match="'note'"):
        v.get_metadata("note")
