"""split_state / filter_state / merge_state / map_state, as_pure / pure, restore_int_paths.

The expected values are what flax 0.12.8 (and 0.10.7, where it has the name) printed
for the same calls on the same State.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class BatchStat(ng.Variable):
    pass


class Model(ng.Module):
    def __init__(self) -> None:
        self.linear = {"kernel": Param(jnp.ones((2, 3))), "bias": Param(jnp.zeros(3))}
        self.batchnorm = {"mean": BatchStat(jnp.zeros(2)), "var": BatchStat(jnp.ones(2))}
        self.layers = [Param(jnp.ones(1)), Param(jnp.ones(2))]


def shapes(state: ng.State) -> dict:
    return ng.to_pure_dict(jax.tree.map(jnp.shape, state))


def unsorted_state() -> ng.State:
    return ng.State(
        {"b": {"y": Param(jnp.ones(1)), "x": BatchStat(jnp.zeros(1))}, "a": Param(jnp.ones(2))}
    )


# -- split_state -------------------------------------------------------------------------


def test_split_state_partitions_by_filter_and_shares_the_leaves() -> None:
    model = Model()
    state = ng.state(model)
    params, stats = ng.split_state(state, Param, BatchStat)
    assert shapes(params) == {
        "layers": {0: (1,), 1: (2,)},
        "linear": {"bias": (3,), "kernel": (2, 3)},
    }
    assert shapes(stats) == {"batchnorm": {"mean": (2,), "var": (2,)}}
    assert params["linear"]["kernel"] is model.linear["kernel"]  # flax: the same Variable


def test_split_state_with_one_filter_gives_a_new_state_not_a_tuple() -> None:
    state = ng.state(Model())
    everything = ng.split_state(state, ...)
    assert isinstance(everything, ng.State) and everything is not state
    assert everything == state
    parts = ng.split_state(state, Param, BatchStat, ...)
    assert isinstance(parts, tuple) and len(parts) == 3 and parts[2] == ng.State({})


def test_split_state_names_every_leftover_path_and_the_fix() -> None:
    state = ng.state(Model())
    with pytest.raises(ng.FilterError) as error:  # a ValueError, as flax raises
        ng.split_state(state, Param)
    text = str(error.value)
    assert text.startswith("nnx.split_state: the filters (Param) do not match every value.")
    assert "state.batchnorm.mean" in text and "state.batchnorm.var" in text
    assert "Fix: add `...` as the last filter to catch the rest: " in text
    assert "nnx.split_state(state, Param, ...)" in text
    assert isinstance(error.value, ValueError)


def test_split_and_filter_state_refuse_a_catch_all_before_the_last_filter() -> None:
    state = ng.state(Model())
    for function in (ng.split_state, ng.filter_state):
        with pytest.raises(
            ValueError, match=r"move it last: nnx\.\w+_state\(state, Param, \.\.\.\)"
        ):
            function(state, ..., Param)


def test_split_state_warns_of_a_tag_filter_that_is_a_name() -> None:
    with pytest.warns(ng.FilterWarning, match=r"nnx.split_state\(state, nnx.PathContains"):
        ng.split_state(ng.state(Model()), "linear", ...)


def test_split_filter_and_map_state_walk_the_paths_in_sorted_order_as_flax() -> None:
    state = unsorted_state()
    assert list(state) == ["b", "a"]
    # flax 0.10.7 and 0.12.8: split order ['a', 'b'] ['x', 'y']; filter order ['a', 'b'] ['y']
    everything = ng.split_state(state, ...)
    assert list(everything) == ["a", "b"] and list(everything["b"]) == ["x", "y"]
    params = ng.filter_state(state, Param)
    assert list(params) == ["a", "b"] and list(params["b"]) == ["y"]
    seen = []
    mapped = ng.map_state(lambda path, leaf: seen.append(path) or 0, state)
    assert seen == [("a",), ("b", "x"), ("b", "y")]
    assert mapped.to_pure_dict() == {"a": 0, "b": {"x": 0, "y": 0}}
    assert list(mapped) == ["a", "b"]


def test_int_keys_come_before_names_where_flax_sort_raises() -> None:
    state = ng.State({"a": Param(1.0), 0: Param(2.0), "b": {1: Param(3.0), "x": Param(4.0)}})
    assert list(ng.split_state(state, ...)) == [0, "a", "b"]
    mapped = ng.map_state(lambda path, leaf: leaf, state)
    assert list(mapped) == [0, "a", "b"] and list(mapped["b"]) == [1, "x"]


def test_state_functions_accept_plain_nested_dicts() -> None:
    # flax raises AttributeError ('dict' object has no attribute '_mapping')
    assert ng.split_state({"a": 1}, ...) == ng.State({"a": 1})
    assert ng.filter_state({"a": Param(1.0), "b": 2}, Param).to_pure_dict() == {"a": 1.0}
    assert ng.map_state(lambda path, leaf: path, {"a": {"b": 1}}) == ng.State(
        {"a": {"b": ("a", "b")}}
    )
    with pytest.raises(
        TypeError, match=r"nnx.map_state expected States, got 3\.\nFix: use the States"
    ):
        ng.map_state(lambda path, leaf: leaf, 3)


# -- filter_state --------------------------------------------------------------------------


def test_filter_state_selects_without_covering_everything() -> None:
    model = Model()
    state = ng.state(model)
    stats = ng.filter_state(state, BatchStat)
    assert isinstance(stats, ng.State)
    assert shapes(stats) == {"batchnorm": {"mean": (2,), "var": (2,)}}
    stats, params = ng.filter_state(state, BatchStat, Param)
    assert stats["batchnorm"]["mean"] is model.batchnorm["mean"]
    assert set(params.flat_dict()) == {
        ("layers", 0),
        ("layers", 1),
        ("linear", "bias"),
        ("linear", "kernel"),
    }
    first, second = ng.filter_state(state, Param, Param)  # the first match wins
    assert len(first.flat_dict()) == 4 and second == ng.State({})


def test_filter_state_of_raw_values_by_kind_selects_nothing() -> None:
    raw = ng.State({"w": jnp.ones(2), "v": 3})
    assert ng.filter_state(raw, Param) == ng.State({})
    assert ng.filter_state(raw, ...) == raw


# -- merge_state ---------------------------------------------------------------------------


def test_merge_state_is_the_inverse_of_split_state() -> None:
    model = Model()
    state = ng.state(model)
    params, stats = ng.split_state(state, Param, BatchStat)
    merged = ng.merge_state(params, stats)
    assert merged == state
    assert merged["linear"]["kernel"] is model.linear["kernel"]
    params["linear"]["bias"][...] += 1  # flax's docstring example: the model sees it
    ng.update(model, ng.merge_state(params, stats))
    np.testing.assert_array_equal(model.linear["bias"][...], [1.0, 1.0, 1.0])


def test_merge_state_later_states_win_and_order_is_first_appearance() -> None:
    # flax 0.10.7 / 0.12.8 printed {'x': {'y': 3, 'z': 2}} and the order ['b', 'a']
    merged = ng.merge_state({"x": {"y": 1}}, {"x": {"z": 2}}, {"x": {"y": 3}})
    assert merged.raw_mapping == {"x": {"y": 3, "z": 2}}
    assert list(ng.merge_state({"b": 1}, {"a": 2})) == ["b", "a"]
    assert ng.merge_state({"a": {"c": 2}}, {"a": 1}).raw_mapping == {"a": 1}
    # flax raises TypeError ('int' object does not support item assignment); the later wins
    assert ng.merge_state({"a": 1}, {"a": {"c": 2}}).raw_mapping == {"a": {"c": 2}}


def test_merge_state_of_one_state_returns_it_and_of_a_dict_a_state() -> None:
    state = ng.State({"a": Param(1.0)})
    assert ng.merge_state(state) is state
    merged = ng.merge_state({"x": {"y": 1}})
    assert type(merged) is ng.State and merged.raw_mapping == {"x": {"y": 1}}
    assert ng.merge_state(ng.State({}), ng.State({})) == ng.State({})


def test_merge_state_builds_the_class_asked_for() -> None:
    class MyState(ng.State):
        __slots__ = ()

    merged = ng.merge_state({"a": 1}, {"b": 2}, cls=MyState)
    assert type(merged) is MyState and merged.raw_mapping == {"a": 1, "b": 2}
    assert type(ng.merge_state({"a": 1}, cls=MyState)) is MyState


# -- map_state -----------------------------------------------------------------------------


def test_map_state_passes_each_path_and_the_models_variable() -> None:
    model = Model()
    state = ng.state(model)
    got = []

    def f(path, leaf):
        got.append((path, leaf))
        return leaf

    same = ng.map_state(f, state)
    assert [path for path, _ in got] == sorted(state.flat_dict())
    assert got[0][1] is model.batchnorm["mean"]  # flax 0.12: the Variable (0.10: VariableState)
    assert same["linear"]["kernel"] is model.linear["kernel"]
    assert shapes(same) == shapes(state)


def test_map_state_holds_whatever_f_returns() -> None:
    # flax 0.12.8 printed State({'bias': (3,), 'kernel': (2, 3)}) for the linear layer
    shaped = ng.map_state(lambda path, leaf: leaf[...].shape, ng.state(Model()))
    assert shaped.to_pure_dict()["linear"] == {"bias": (3,), "kernel": (2, 3)}
    assert isinstance(shaped, ng.State)


# -- as_pure / pure ----------------------------------------------------------------------------


def test_as_pure_gives_a_state_of_the_raw_arrays() -> None:
    model = Model()
    _, state = ng.split(model)
    pure = ng.as_pure(state)
    assert isinstance(pure, ng.State)
    # flax 0.12.8: State({'bias': (3,), 'kernel': (2, 3)}) for jax.tree.map(jnp.shape, ...)
    assert jax.tree.map(jnp.shape, pure)["linear"].raw_mapping == {"bias": (3,), "kernel": (2, 3)}
    assert pure["linear"]["kernel"] is model.linear["kernel"].get_raw_value()  # not a copy
    assert not any(isinstance(x, ng.Variable) for x in jax.tree.leaves(pure))


def test_as_pure_works_on_any_pytree() -> None:
    tree = {"a": Param(1.0), "b": [BatchStat(jnp.ones(2)), 3, None], "c": (ng.Variable("s"),)}
    pure = ng.as_pure(tree)
    # flax 0.10.7 / 0.12.8: {'a': 1.0, 'b': [Array([1., 1.], dtype=float32), 3, None], 'c': ('s',)}
    assert pure["a"] == 1.0 and pure["c"] == ("s",)
    assert pure["b"][1:] == [3, None]
    np.testing.assert_array_equal(pure["b"][0], [1.0, 1.0])
    assert ng.as_pure([Param(1.0), 2]) == [1.0, 2]
    assert ng.as_pure(Param(5.0)) == 5.0
    assert ng.as_pure(None) is None and ng.as_pure(3) == 3
    assert ng.as_pure({"v": ng.Variable({"x": 1, "y": 2})}) == {"v": {"x": 1, "y": 2}}


def test_as_pure_of_a_module_is_a_module_holding_arrays_as_flax_0_12() -> None:
    model = Model()
    pure = ng.as_pure(model)
    assert type(pure) is Model and pure is not model
    assert pure.linear["kernel"] is model.linear["kernel"].get_raw_value()
    assert isinstance(model.linear["kernel"], Param)  # the model is unchanged


def test_as_pure_unwraps_nested_variables_and_reads_refs() -> None:
    # flax 0.12.8: {'x': 2.0} (0.10.7 left the inner Param)
    assert ng.as_pure(ng.Variable({"x": Param(2.0)})) == {"x": 2.0}
    ref = jax.new_ref(jnp.ones(2))
    np.testing.assert_array_equal(ng.as_pure({"r": ref})["r"], [1.0, 1.0])


def test_pure_is_as_pure_without_a_warning() -> None:
    state = ng.State({"w": Param(jnp.ones(2))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # flax 0.12 warns that pure is deprecated; we keep it
        pure = ng.pure(state)
    assert pure == ng.as_pure(state)
    assert not isinstance(pure["w"], ng.Variable)


# -- restore_int_paths -------------------------------------------------------------------


def test_restore_int_paths_turns_index_keys_back_into_ints_at_every_level() -> None:
    restored = ng.restore_int_paths(
        {"0": {"w": 1, "1": 2}, "layers": {"2": {"10": 3}}, "-1": 4, "a1": 5, "3.0": 6, "05": 7}
    )
    # flax 0.12.8 printed these entries the same way
    assert restored == {0: {"w": 1, 1: 2}, "layers": {2: {10: 3}}, -1: 4, "a1": 5, "3.0": 6, 5: 7}
    assert list(restored) == [0, "layers", -1, "a1", "3.0", 5]


def test_restore_int_paths_converts_only_keys_written_as_integers() -> None:
    # flax converts whatever int() accepts: ' 3' -> 3, '+4' -> 4, '1_0' -> 10
    assert ng.restore_int_paths({" 3": 1, "+4": 2, "1_0": 3}) == {" 3": 1, "+4": 2, "1_0": 3}


def test_restore_int_paths_returns_a_new_plain_dict() -> None:
    original = {"a": {"0": 1}}
    restored = ng.restore_int_paths(original)
    assert restored is not original and original == {"a": {"0": 1}}
    assert type(restored) is dict and type(restored["a"]) is dict
    assert ng.restore_int_paths({}) == {}
    assert ng.restore_int_paths({"a": {}, "1": {}}) == {}  # empty levels dropped, as flax
    assert ng.restore_int_paths({0: 1, "b": {1: 2}}) == {0: 1, "b": {1: 2}}
    assert ng.restore_int_paths({"0": [1, {"2": 3}]}) == {0: [1, {"2": 3}]}  # lists as leaves
    assert ng.restore_int_paths({"1": "str", 1: "int"}) == {1: "int"}  # the later wins
    state = ng.State({"0": {"w": Param(1.0)}})
    assert ng.restore_int_paths(state) == {0: {"w": state["0"]["w"]}}


def test_restore_int_paths_round_trips_a_checkpointed_pure_dict() -> None:
    class Stack(ng.Module):
        def __init__(self) -> None:
            self.layers = [{"w": Param(jnp.ones(2))}, {"w": Param(jnp.zeros(2))}]

    model = Stack()
    pure = ng.to_pure_dict(ng.state(model))
    as_saved = _stringify_keys(pure)
    assert list(as_saved["layers"]) == ["0", "1"]
    restored = ng.restore_int_paths(as_saved)
    assert list(restored["layers"]) == [0, 1]
    state = ng.state(model)
    state.replace_by_pure_dict(jax.tree.map(lambda x: x + 1, restored))
    ng.update(model, state)
    np.testing.assert_array_equal(model.layers[1]["w"][...], [1.0, 1.0])


def _stringify_keys(tree: dict) -> dict:
    """What an orbax or JSON round trip does to a pure dict's keys."""
    return {
        str(key): _stringify_keys(value) if isinstance(value, dict) else value
        for key, value in tree.items()
    }
