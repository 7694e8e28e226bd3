"""State: nested mapping by path, a pytree of arrays, filterable and mergeable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Stat(ng.Variable):
    pass


def vs(kind, value, **metadata):
    return ng.VariableState(kind, jnp.asarray(value), metadata)


def make_state():
    return ng.State(
        {
            "linear": {"w": vs(Param, [1.0, 2.0]), "b": vs(Param, [0.0])},
            "bn": {"mean": vs(Stat, [0.5])},
            "layers": {0: {"w": vs(Param, [3.0])}},
        }
    )


def test_item_and_attribute_access_reach_the_same_entry():
    state = make_state()
    assert state["linear"]["w"] is state.linear.w
    assert state["layers"][0]["w"].type is Param
    assert isinstance(state.linear, ng.State)
    with pytest.raises(AttributeError, match=r"State has no entry 'nope'; entries: 'linear'"):
        _ = state.nope


def test_views_write_through():
    state = make_state()
    state.linear["w"] = vs(Param, [9.0, 9.0])
    np.testing.assert_array_equal(state["linear"]["w"].value, [9.0, 9.0])
    state.extra = {"x": vs(Stat, [1.0])}
    assert state.extra.x.type is Stat
    del state["extra"]
    assert "extra" not in state


def test_flat_state_and_from_flat_path_round_trip():
    state = make_state()
    flat = state.flat_dict()
    assert list(flat) == [("linear", "w"), ("linear", "b"), ("bn", "mean"), ("layers", 0, "w")]
    assert ng.State.from_flat_path(flat) == state
    assert ng.State.from_flat_path(list(flat.items())) == state


def test_state_is_a_pytree_of_arrays_with_paths():
    state = make_state()
    leaves = jax.tree.leaves(state)
    assert len(leaves) == 4 and all(isinstance(x, jax.Array) for x in leaves)
    doubled = jax.tree.map(lambda x: x * 2, state)
    assert isinstance(doubled, ng.State)
    np.testing.assert_array_equal(doubled.linear.w.value, [2.0, 4.0])
    assert doubled.linear.w.type is Param
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert "['linear']['w'].value" in paths


def test_state_passes_through_jit():
    state = make_state()
    out = jax.jit(lambda s: jax.tree.map(jnp.negative, s))(state)
    np.testing.assert_array_equal(out.bn.mean.value, [-0.5])


def test_filter_and_split_by_kind():
    state = make_state()
    params = state.filter(Param)
    assert sorted(map(str, params.flat_dict())) == sorted(
        map(str, [("linear", "w"), ("linear", "b"), ("layers", 0, "w")])
    )
    params, stats = state.split(Param, Stat)
    assert list(stats.flat_dict()) == [("bn", "mean")]
    only_stats = state.split(Stat, ...)[0]
    assert list(only_stats.flat_dict()) == [("bn", "mean")]
    assert state.split(...) == state


def test_state_split_must_be_exhaustive():
    with pytest.raises(
        ng.FilterError, match=r"(?s)state.bn.mean.*Stat.*state.split\(Param, \.\.\.\)"
    ):
        make_state().split(Param)


def test_merge_combines_and_later_states_win():
    state = make_state()
    params, stats = state.split(Param, Stat)
    assert ng.State.merge(params, stats) == state
    newer = ng.State({"bn": {"mean": vs(Stat, [7.0])}})
    merged = ng.State.merge(state, newer)
    np.testing.assert_array_equal(merged.bn.mean.value, [7.0])
    np.testing.assert_array_equal(state.bn.mean.value, [0.5])


def test_pure_dict_round_trip():
    state = make_state()
    pure = state.to_pure_dict()
    assert isinstance(pure["linear"]["w"], jax.Array)
    pure["linear"]["w"] = jnp.zeros(2)
    state.replace_by_pure_dict(pure)
    assert state.linear.w.type is Param
    np.testing.assert_array_equal(state.linear.w.value, [0.0, 0.0])


def test_replace_by_pure_dict_unknown_path_changes_nothing():
    state = make_state()
    before = state.flat_dict()
    bad = {"linear": {"w": jnp.zeros(2), "kernel": jnp.zeros(2)}}
    with pytest.raises(
        ng.StateMismatchError,
        match=r"(?s)pure_dict.linear.kernel.*state.linear.w.*state.to_pure_dict\(\)",
    ):
        state.replace_by_pure_dict(bad)
    assert state.flat_dict() == before


def test_replace_by_pure_dict_with_replace_fn():
    state = make_state()
    state.replace_by_pure_dict(
        {"bn": {"mean": jnp.ones(1)}}, replace_fn=lambda old, new: old.replace(new * 3)
    )
    np.testing.assert_array_equal(state.bn.mean.value, [3.0])


def test_equality_compares_flat_contents():
    assert make_state() == make_state()
    other = make_state()
    other.bn["mean"] = vs(Stat, [0.6])
    assert other != make_state()
    with pytest.raises(TypeError):
        hash(make_state())


def test_repr_lists_entries():
    text = repr(ng.State({"a": {"b": vs(Param, [1.0])}}))
    assert text.startswith("State({") and "'b': Param(value=Array([1.]" in text


def test_nested_entries_with_mixed_key_types_are_a_pytree():
    # A dict attribute may hold int and str keys ({0: ..., 'head': ...}); jax cannot sort
    # such a plain dict, so the State must flatten its nested levels itself.
    state = ng.State({"blocks": {0: vs(Param, [1.0]), "head": vs(Stat, [2.0])}})
    doubled = jax.tree.map(lambda x: x * 2, state)
    assert isinstance(doubled.blocks, ng.State)
    np.testing.assert_array_equal(doubled["blocks"][0].value, [2.0])
    assert doubled["blocks"]["head"].type is Stat
    assert list(doubled.flat_dict()) == [("blocks", 0), ("blocks", "head")]
    out = jax.jit(lambda s: s)(state)
    assert out == state


def test_model_with_mixed_key_dict_round_trips_through_jit():
    model = ng.Module()
    model.blocks = {0: Param(jnp.ones(1)), "head": Stat(jnp.zeros(1))}
    graphdef, state = ng.split(model)
    state = jax.jit(lambda s: jax.tree.map(lambda x: x + 1, s))(state)
    ng.update(model, state)
    assert float(model.blocks[0].value[0]) == 2.0 and float(model.blocks["head"].value[0]) == 1.0
    assert ng.merge(graphdef, state).blocks.keys() == model.blocks.keys()
