"""nnx.fork and nnx.ForkStates (flax 0.10.7's rnglib.fork): the key values flax printed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng
from nnx_variables import ForkStates, Param, RngCount, RngKey, Rngs, fork


def key_data(variable):
    return np.asarray(jax.random.key_data(variable.value))


def test_fork_splits_the_selected_keys_and_broadcasts_the_rest():
    rngs = Rngs(0, dropout=1)
    state = ng.state(rngs)
    forked = fork(state, "dropout", 2)
    assert isinstance(forked, ForkStates) and ForkStates._fields == (
        "split_keys",
        "split_counts",
        "broadcast_keys",
        "broadcast_counts",
    )
    split_key = forked.split_keys["dropout"]["key"]
    assert isinstance(split_key, RngKey) and split_key.tag == "dropout"
    # flax 0.10.7 printed these key data for nnx.fork(nnx.state(Rngs(0, dropout=1)), 'dropout', 2)
    np.testing.assert_array_equal(
        key_data(split_key), [[507451445, 1853169794], [1948878966, 4237131848]]
    )
    assert list(forked.split_keys) == ["dropout"] and list(forked.split_counts) == ["dropout"]
    assert isinstance(forked.split_counts["dropout"]["count"], RngCount)
    assert int(forked.split_counts["dropout"]["count"].value) == 0
    np.testing.assert_array_equal(key_data(forked.broadcast_keys["default"]["key"]), [0, 0])
    assert list(forked.broadcast_counts) == ["default"]
    assert rngs.dropout.key.shape == () and state["dropout"]["key"].shape == ()  # unchanged


def test_fork_with_a_shape_and_with_nothing_selected():
    state = ng.state(Rngs(0))
    forked = fork(state, ..., (2, None, 3))
    keys = key_data(forked.split_keys["default"]["key"])
    assert keys.shape == (2, 1, 3, 2)
    np.testing.assert_array_equal(keys[0, 0, 0], [1797259609, 2579123966])  # flax 0.10.7
    nothing = fork(state, ng.Nothing, 2)
    assert list(nothing.split_keys) == [] and list(nothing.broadcast_keys) == ["default"]
    legacy = fork(ng.state(Rngs(jax.random.PRNGKey(0))), ..., 2)
    np.testing.assert_array_equal(
        key_data(legacy.split_keys["default"]["key"])[1], [928981903, 3453687069]
    )


def test_fork_refuses_other_variables_and_a_missing_pattern():
    class Model(ng.Module):
        def __init__(self):
            self.w = Param(jnp.ones(1))
            self.rngs = Rngs(0)

    with pytest.raises(ValueError, match=r"state\.w: Param(.|\n)*Fix: nnx.fork\(nnx.state\("):
        fork(ng.state(Model()), ..., 2)
    assert list(fork(ng.state(Model(), RngKey, RngCount)[0], ..., 2).split_keys) == ["rngs"]
    with pytest.raises(RuntimeError, match="split_pattern=None"):
        fork(ng.state(Rngs(0)), ..., None)
    with pytest.raises(TypeError, match="expected a State"):
        fork(Rngs(0), ..., 2)
