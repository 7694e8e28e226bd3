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
    assert v.sharding == ("x",) and v.tag == "enc"
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
    assert state["w"].get_metadata() == {"sharding": ("data",), "description": "weights"}
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
