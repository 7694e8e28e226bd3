"""nnx.with_rngs's graph= and graph_updates= (Flax NNX 0.12)."""

import jax
import numpy as np
import pytest

import nnx_graph as ng
from nnx_variables import Rngs, with_rngs


class Shared(ng.Module):
    def __init__(self):
        self.r = Rngs(params=0, dropout=1)
        self.s = self.r


def _key(stream):
    return jax.random.key_data(stream.key.value)


MODES = [{}, {"graph": False}, {"graph_updates": False}, {"graph": True, "graph_updates": False}]


@pytest.mark.parametrize("modes", MODES)
def test_every_mode_gives_the_same_copy_for_a_tree(modes):
    rngs, reference = Rngs(params=0, dropout=1), Rngs(params=0, dropout=1)
    copy = with_rngs(rngs, split={"params": 2}, fork="dropout", **modes)
    expected = with_rngs(reference, split={"params": 2}, fork="dropout")
    assert copy is not rngs and copy.params.key.shape == (2,)
    np.testing.assert_array_equal(_key(copy.params), _key(expected.params))
    np.testing.assert_array_equal(_key(copy.dropout), _key(expected.dropout))
    assert int(rngs.params.count.value) == 1 and int(rngs.dropout.count.value) == 1


def test_tree_mode_refuses_a_shared_rngs_naming_both_paths():
    with pytest.raises(ValueError, match=r"(?s)nnx\.with_rngs: tree mode.*node\.r and node\.s"):
        with_rngs(Shared(), split=2, graph=False)
    copy = with_rngs(Shared(), split=2, graph_updates=False)  # graph mode keeps the sharing
    assert copy.r is copy.s and copy.r.params.key.shape == (2,)


def test_the_decorator_checks_the_arguments_in_tree_mode():
    @with_rngs(split=3, graph=False)
    def shape(rngs, **_):
        return rngs.params.key.shape

    assert shape(Rngs(params=0)) == (3,)
    rngs = Rngs(params=0)
    with pytest.raises(ValueError, match=r"nnx\.with_rngs: tree mode.*\n.*args\[0\] and kwargs"):
        shape(rngs, again=rngs)
