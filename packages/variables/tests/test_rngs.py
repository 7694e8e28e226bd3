"""Rngs: named streams, the default fallback, fold_in(key, count), state that travels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng
from nnx_variables import (
    Param,
    RngCount,
    RngKey,
    Rngs,
    RngState,
    RngStream,
    fork_rngs,
    restore_rngs,
)
from nnx_variables import reseed as nnx_reseed


def same_key(a, b):
    return bool(jnp.all(jax.random.key_data(a) == jax.random.key_data(b)))


def nth_key(seed, n):
    return jax.random.fold_in(jax.random.key(seed), n)


def test_positional_seed_makes_the_default_stream():
    rngs = Rngs(0)
    assert list(rngs.keys()) == ["default"]
    assert same_key(rngs.default.key.value, jax.random.key(0))
    assert rngs.default.tag == "default"


def test_keyword_seeds_make_named_streams():
    rngs = Rngs(params=0, dropout=1)
    assert sorted(rngs.keys()) == ["dropout", "params"]
    assert same_key(rngs.params.key.value, jax.random.key(0))
    assert same_key(rngs["dropout"].key.value, jax.random.key(1))
    assert "params" in rngs and "default" not in rngs


def test_each_call_folds_in_the_count_then_increments_it():
    rngs = Rngs(params=3)
    for n in range(3):
        assert int(rngs.params.count.value) == n
        assert same_key(rngs.params(), nth_key(3, n))
    assert int(rngs.params.count.value) == 3


def test_missing_stream_falls_back_to_default_and_advances_it():
    rngs = Rngs(0, params=1)
    assert rngs.dropout is rngs.default  # no 'dropout' stream
    assert same_key(rngs.dropout(), nth_key(0, 0))
    assert same_key(rngs.params(), nth_key(1, 0))  # params has its own stream
    assert int(rngs.default.count.value) == 1 and int(rngs.params.count.value) == 1


def test_calling_rngs_is_calling_default():
    a, b = Rngs(5), Rngs(5)
    assert same_key(a(), b.default())
    assert same_key(a(), nth_key(5, 1))


def test_seeds_may_be_keys_int_arrays_or_legacy_keys():
    key = jax.random.key(42)
    assert Rngs(key).default.key.value is key  # a key is used as is
    assert same_key(Rngs(jnp.array(42)).default.key.value, key)
    assert same_key(Rngs(np.int64(42)).default.key.value, key)
    legacy = jax.random.PRNGKey(42)
    assert same_key(Rngs(legacy).default.key.value, key)


def test_keys_and_counts_are_variables_with_a_uint32_count():
    stream = Rngs(params=0).params
    assert isinstance(stream, RngStream) and isinstance(stream, ng.Object)
    assert type(stream.key) is RngKey and type(stream.count) is RngCount
    assert issubclass(RngKey, RngState) and issubclass(RngCount, RngState)
    assert stream.count.value.dtype == jnp.uint32 and stream.count.value.shape == ()
    assert stream.key.tag == "params" and stream.count.tag == "params"


class Holder(ng.Module):
    def __init__(self, rngs):
        self.rngs = rngs
        self.w = Param(jax.random.uniform(rngs.params(), (2,)))


def test_split_and_merge_carry_keys_and_counts():
    model = Holder(Rngs(params=0))
    graphdef, params, rng_state = ng.split(model, Param, RngState)
    assert set(rng_state.flat_dict()) == {("rngs", "params", "key"), ("rngs", "params", "count")}
    assert rng_state.rngs.params.count.type is RngCount
    assert int(rng_state.rngs.params.count.value) == 1
    copy = ng.merge(graphdef, params, rng_state, copy=True)
    assert same_key(copy.rngs.params(), nth_key(0, 1))  # continues where the original was
    assert int(model.rngs.params.count.value) == 1  # the original did not advance
    filtered = ng.state(model, RngCount)
    assert list(filtered.flat_dict()) == [("rngs", "params", "count")]


def test_a_stream_drawn_inside_jit_advances_through_split_and_update():
    model = Holder(Rngs(params=0))
    graphdef, state = ng.split(model)

    @jax.jit
    def draw(graphdef, state):
        inner = ng.merge(graphdef, state)
        key = inner.rngs.params()
        return jax.random.key_data(key), ng.split(inner)[1]

    data, state = draw(graphdef, state)
    ng.update(model, state)
    assert int(model.rngs.params.count.value) == 2
    assert bool(jnp.all(data == jax.random.key_data(nth_key(0, 1))))


def test_shared_rngs_is_one_node():
    rngs = Rngs(0)
    root = ng.Module()
    root.a, root.b = Holder(rngs), Holder(rngs)
    copy = ng.clone(root)
    assert copy.a.rngs is copy.b.rngs
    assert int(copy.a.rngs.default.count.value) == 2


def test_fork_gives_independent_streams_and_advances_the_parent():
    rngs = Rngs(0, dropout=1)
    forked = rngs.fork()
    assert sorted(forked.keys()) == ["default", "dropout"]
    assert same_key(forked.default.key.value, nth_key(0, 0))
    assert same_key(forked.dropout.key.value, nth_key(1, 0))
    assert int(forked.default.count.value) == 0
    assert int(rngs.default.count.value) == 1 and int(rngs.dropout.count.value) == 1


def test_fork_with_split_gives_one_count_per_key():
    forked = Rngs(0).fork(split=3)
    stream = forked.default
    assert stream.key.value.shape == (3,)
    assert stream.count.value.shape == (3,) and stream.count.value.dtype == jnp.uint32
    expected = jax.random.split(nth_key(0, 0), 3)
    assert same_key(stream.key.value, expected)
    keys = jax.vmap(lambda k, c: jax.random.fold_in(k, c))(stream.key.value, stream.count.value)
    assert keys.shape == (3,)
    assert Rngs(0).fork(split=(2, 2)).default.count.value.shape == (2, 2)


def test_stream_fork_keeps_the_tag():
    stream = Rngs(params=0).params
    child = stream.fork()
    assert child.tag == "params" and int(stream.count.value) == 1


@pytest.mark.parametrize(
    ("kwargs", "stream", "fix"),
    [
        ({"params": "0"}, "params", "nnx.Rngs(params=0)"),
        ({"params": 0.5}, "params", "nnx.Rngs(params=0)"),
        ({"dropout": True}, "dropout", "nnx.Rngs(dropout=0)"),
        ({"params": jnp.ones(3)}, "params", "nnx.Rngs(params=0)"),
        ({"params": None}, "params", "nnx.Rngs(params=0)"),
    ],
    ids=["str", "float", "bool", "float array", "none"],
)
def test_invalid_seed_names_the_stream_and_the_fix(kwargs, stream, fix):
    with pytest.raises(
        TypeError,
        match=rf"(?s)invalid seed for stream '{stream}'.*Fix: "
        + fix.replace("(", r"\(").replace(")", r"\)"),
    ):
        Rngs(**kwargs)


def test_invalid_default_seed_gives_the_positional_fix():
    with pytest.raises(
        TypeError, match=r"(?s)invalid seed for stream 'default': 1.5.*Fix: nnx.Rngs\(0\)"
    ):
        Rngs(1.5)


def test_missing_stream_without_default_names_the_streams_and_the_fix():
    rngs = Rngs(params=0)
    before = ng.state(rngs)
    with pytest.raises(
        AttributeError,
        match=r"(?s)no stream 'dropout' and no 'default'.*streams: params.*nnx.Rngs\(dropout=0\)",
    ):
        rngs.dropout()
    with pytest.raises(AttributeError, match=r"(?s)no stream 'default'.*nnx.Rngs\(default=0\)"):
        rngs()
    assert ng.state(rngs) == before


def test_rngs_passed_as_a_mapping():
    rngs = Rngs({"params": 0, "dropout": 1})
    assert sorted(rngs.keys()) == ["dropout", "params"]
    assert sorted(name for name, _ in rngs.items()) == ["dropout", "params"]


def test_rngs_iterates_over_its_streams_as_flax_does():
    rngs = Rngs(0, params=1)
    assert list(rngs) == ["params", "default"]
    assert len(rngs) == 2
    assert "params" in rngs and "dropout" not in rngs
    assert [name for name, _ in rngs.items()] == ["params", "default"]
    assert list(rngs.values()) == [rngs.params, rngs.default]
    assert dict(rngs.items())["params"] is rngs.params


def test_reseed_restarts_the_named_streams_everywhere_in_the_graph():
    class Model(ng.Module):
        def __init__(self):
            self.a = Rngs(params=0, dropout=1)
            self.b = Rngs(dropout=2)

    model = Model()
    model.a.dropout()
    first = jax.random.key_data(model.a.dropout())
    nnx_reseed(model, dropout=1)
    assert int(model.a.dropout.count.value) == 0 and int(model.b.dropout.count.value) == 0
    again = jax.random.key_data(model.a.dropout())
    np.testing.assert_array_equal(
        again, jax.random.key_data(jax.random.fold_in(jax.random.key(1), 0))
    )
    assert not np.array_equal(first, again)
    np.testing.assert_array_equal(
        jax.random.key_data(model.b.dropout.key.value),
        jax.random.key_data(model.a.dropout.key.value),
    )
    assert int(model.a.params.count.value) == 0


def test_reseed_refuses_a_split_stream_and_changes_nothing():
    rngs = Rngs(dropout=0, params=1)
    params_key = jax.random.key_data(rngs.params.key.value)
    backups = fork_rngs(rngs, split={"dropout": 4})
    with pytest.raises(ValueError, match=r"'dropout' stream holds keys of shape \(4,\)"):
        nnx_reseed(rngs, params=5, dropout=3)
    np.testing.assert_array_equal(jax.random.key_data(rngs.params.key.value), params_key)
    restore_rngs(backups)
