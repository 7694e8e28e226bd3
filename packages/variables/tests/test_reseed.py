"""nnx.reseed's graph= and policy= (Flax NNX 0.12)."""

import jax
import numpy as np
import pytest

import nnx_graph as ng
from nnx_variables import Rngs, fork_rngs, reseed


class Shared(ng.Module):
    def __init__(self):
        self.a = Rngs(dropout=1)
        self.b = self.a


def _data(key):
    return jax.random.key_data(key)


def _split_rngs():
    rngs = Rngs(dropout=0, params=1)
    fork_rngs(rngs, split={"dropout": 3})
    return rngs


def test_scalars_only_refuses_a_split_stream_naming_its_path_and_the_policy_fix():
    rngs = _split_rngs()
    before = _data(rngs.params.key.value)
    with pytest.raises(
        ValueError,
        match=r"(?s)'dropout' stream holds keys of shape \(3,\).*node\.dropout\.key.*"
        r"policy='match_shape'",
    ):
        reseed(rngs, params=5, dropout=3, policy="scalars_only")
    np.testing.assert_array_equal(_data(rngs.params.key.value), before)  # nothing changed


def test_match_shape_splits_the_new_key_into_the_streams_shape():
    rngs = _split_rngs()
    reseed(rngs, dropout=3, params=4, policy="match_shape")
    np.testing.assert_array_equal(
        _data(rngs.dropout.key.value), _data(jax.random.split(jax.random.key(3), 3))
    )
    np.testing.assert_array_equal(rngs.dropout.count.value, [0, 0, 0])
    np.testing.assert_array_equal(_data(rngs.params.key.value), _data(jax.random.key(4)))


def test_a_policy_function_gets_the_path_the_key_and_the_shape():
    rngs, seen = _split_rngs(), []

    def policy(path, key, shape):
        seen.append((path, shape))
        return key

    reseed(rngs, dropout=2, policy=policy)
    assert seen == [(("dropout",), (3,))]
    assert rngs.dropout.key.shape == () and rngs.dropout.count.value.shape == ()


def test_an_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"(?s)unknown policy 'bogus'.*'match_shape'"):
        reseed(Rngs(dropout=0), dropout=1, policy="bogus")


def test_tree_mode_refuses_a_shared_stream_and_graph_mode_reseeds_it_once():
    with pytest.raises(ValueError, match=r"(?s)nnx\.reseed: tree mode.*node\.a and node\.b"):
        reseed(Shared(), dropout=1, graph=False)
    model = Shared()
    model.a.dropout()
    reseed(model, dropout=1)
    assert int(model.b.dropout.count.value) == 0
    tree = Rngs(dropout=0)
    tree.dropout()
    reseed(tree, dropout=1, graph=False)
    np.testing.assert_array_equal(_data(tree.dropout.key.value), _data(jax.random.key(1)))
