"""Fidelity with flax's State helpers: flat_state pairs, pure dicts, catch-all filters."""

import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Stat(ng.Variable):
    pass


class Model(ng.Module):
    def __init__(self):
        self.layers = [Block(), Block()]
        self.mean = Stat(jnp.zeros(1))


class Block(ng.Module):
    def __init__(self):
        self.w = Param(jnp.ones(2))


def test_flat_state_is_a_sequence_of_path_leaf_pairs_as_in_flax():
    model = Model()
    flat = ng.state(model).flat_state()
    pairs = [(path, leaf) for path, leaf in flat]
    assert [path for path, _ in pairs] == [("layers", 0, "w"), ("layers", 1, "w"), ("mean",)]
    assert pairs[0][1] is model.layers[0].w
    assert flat.paths == tuple(path for path, _ in pairs)
    assert flat.leaves[2] is model.mean
    assert len(flat) == 3 and flat[-1] == (("mean",), model.mean)
    assert isinstance(flat[:2], ng.FlatState) and len(flat[:2]) == 2


def test_flat_state_round_trips_and_partitions_by_filters():
    model = Model()
    flat = ng.to_flat_state(ng.state(model))
    params, stats = flat.split(Param, Stat)
    assert params.paths == (("layers", 0, "w"), ("layers", 1, "w"))
    assert stats.paths == (("mean",),)
    assert flat.filter(Stat).paths == (("mean",),)
    assert ng.FlatState.merge(params, stats).to_nested_state() == ng.state(model)
    rebuilt = ng.from_flat_state(flat)
    assert isinstance(rebuilt, ng.State) and rebuilt["layers"][1]["w"] is model.layers[1].w
    assert ng.from_flat_state(dict(flat)) == rebuilt
    ng.update(model, flat)  # a FlatState is accepted wherever a State is


def test_state_equals_a_plain_mapping_with_the_same_leaves():
    assert ng.State({}) == {}
    assert ng.State({"a": {"b": 1}}) == {"a": {"b": 1}}
    assert ng.State({"a": {"b": 1}}) != {"a": {"b": 2}}


def test_replace_by_pure_dict_accepts_string_indices_from_a_checkpoint():
    model = Model()
    state = ng.state(model)
    pure = ng.to_pure_dict(state)
    assert set(pure["layers"]) == {0, 1}
    restored = {"layers": {"0": {"w": jnp.full(2, 5.0)}, "1": {"w": jnp.full(2, 6.0)}}}
    ng.replace_by_pure_dict(state, restored)
    ng.update(model, state)
    np.testing.assert_array_equal(model.layers[0].w.value, [5.0, 5.0])
    np.testing.assert_array_equal(model.layers[1].w.value, [6.0, 6.0])
    with pytest.raises(ng.StateMismatchError, match=r"pure_dict.layers\['7'\].w"):
        state.replace_by_pure_dict({"layers": {"7": {"w": jnp.ones(2)}}})


def test_to_pure_dict_takes_an_extract_fn():
    state = ng.state(Model())
    shapes = ng.to_pure_dict(state, lambda leaf: leaf.value.shape)
    assert shapes == {"layers": {0: {"w": (2,)}, 1: {"w": (2,)}}, "mean": (1,)}


@pytest.mark.parametrize("catch_all", [..., True])
def test_a_catch_all_before_the_last_filter_is_refused(catch_all):
    model = Model()
    with pytest.raises(ng.FilterError, match=r"only as the last filter") as info:
        ng.split(model, catch_all, Param)
    assert "nnx.split(model, Param, ...)" in str(info.value)
    with pytest.raises(ng.FilterError, match=r"only as the last filter"):
        ng.state(model, catch_all, Param)
    with pytest.raises(ng.FilterError, match=r"only as the last filter"):
        ng.state(model).split(catch_all, Param)


def test_sort_orders_the_pairs_by_path_as_flax_does():
    from nnx_graph import FlatState

    # Flax NNX 0.12.8: FlatState([(('b',), 1), (('a',), 2)], sort=True) lists ('a',) first.
    assert list(FlatState([(("b",), 1), (("a",), 2)], sort=True)) == [(("a",), 2), (("b",), 1)]
    assert list(FlatState([(("b",), 1), (("a",), 2)], sort=False)) == [(("b",), 1), (("a",), 2)]
    mixed = FlatState([(("b", "x"), 1), (("b", 0), 2), (("a",), 3)], sort=True)
    assert mixed.paths == (("a",), ("b", 0), ("b", "x"))  # flax's sort raises on these
