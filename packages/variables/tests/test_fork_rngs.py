"""nnx.fork_rngs / nnx.restore_rngs, as Flax NNX 0.12 code calls them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import Module, TraceContextError
from nnx_variables import Rngs, SplitBackups, fork_rngs, restore_rngs


class Model(Module):
    def __init__(self) -> None:
        self.rngs = Rngs(params=0, dropout=1)
        self.shared = self.rngs  # reached twice, forked once


def _data(key: jax.Array) -> np.ndarray:
    return np.asarray(jax.random.key_data(key))


def test_fork_replaces_keys_in_place_and_restore_puts_them_back_one_key_on():
    model = Model()
    key0 = _data(model.rngs.params.key[...])
    backups = fork_rngs(model)
    assert isinstance(backups, SplitBackups) and len(list(backups)) == 2
    expected = _data(jax.random.fold_in(jax.random.key(0), 0))
    np.testing.assert_array_equal(_data(model.rngs.params.key[...]), expected)
    assert int(model.rngs.params.count[...]) == 0
    restore_rngs(backups)
    np.testing.assert_array_equal(_data(model.rngs.params.key[...]), key0)
    assert int(model.rngs.params.count[...]) == 1  # one key further on


def test_fork_with_split_mapping_selects_streams_by_name():
    rngs = Rngs(params=0, dropout=1, noise=2)
    with fork_rngs(rngs, split={"dropout": 4, "noise": None}):
        assert rngs.dropout.key.shape == (4,) and rngs.dropout.count.shape == (4,)
        assert rngs.noise.key.shape == ()
        assert int(rngs.params.count[...]) == 0  # not selected: untouched
    assert rngs.dropout.key.shape == () and int(rngs.noise.count[...]) == 1


def test_fork_rngs_as_a_decorator_forks_each_calls_arguments():
    @fork_rngs(split=3)
    def keys_shape(model: Model) -> tuple[int, ...]:
        return model.rngs.dropout.key.shape

    model = Model()
    assert keys_shape(model) == (3,)
    assert model.rngs.dropout.key.shape == () and int(model.rngs.dropout.count[...]) == 1


def test_restore_after_an_error_inside_the_with_block():
    rngs = Rngs(0)
    with pytest.raises(RuntimeError), fork_rngs(rngs, split=2):
        raise RuntimeError("inside")
    assert rngs.default.key.shape == ()


def test_a_captured_stream_is_refused_and_nothing_changes():
    rngs = Rngs(a=0, b=1)

    @jax.jit
    def fork(x):
        fork_rngs(rngs)
        return x

    with pytest.raises(TraceContextError, match=r"(?s)Cannot update a RngKey.*module in"):
        fork(jnp.ones(1))
    assert int(rngs.a.count[...]) == 0 and int(rngs.b.count[...]) == 0


def test_with_rngs_returns_a_copy_with_split_forked_and_broadcast_streams():
    from nnx_variables import with_rngs

    rngs = Rngs(params=0, dropout=1, noise=2)
    copy = with_rngs(rngs, split={"params": 4}, fork="dropout", broadcast={"noise": 3})
    assert copy is not rngs and copy.params.key.shape == (4,) and copy.dropout.key.shape == ()
    noise = jax.random.key_data(copy.noise.key.value)
    assert noise.shape[0] == 3 and (noise == noise[0]).all()
    assert [int(rngs[n].count.value) for n in ("params", "dropout", "noise")] == [1, 1, 1]
    every = with_rngs(rngs, split=2)
    assert every.params.key.shape == (2,) and every.dropout.key.shape == (2,)

    @with_rngs(split=3)
    def shape(r):
        return r.params.key.shape

    assert shape(rngs) == (3,) and rngs.params.key.shape == ()


class Holder(Module):
    def __init__(self) -> None:
        from nnx_variables import Param

        self.w = Param(jnp.zeros(2))
        self.r = Rngs(0, dropout=1)


@pytest.mark.parametrize("mode", [{"graph_updates": False}, {"graph": False}])
def test_without_graph_updates_fork_returns_a_copy_sharing_the_other_variables(
    mode: dict[str, bool],
) -> None:
    m = Holder()
    out = fork_rngs(m, split={"dropout": 2}, **mode)
    assert type(out) is Holder and out is not m
    assert out.w is m.w and out.r.default.key is m.r.default.key  # not forked: shared
    # Flax NNX 0.12.8 printed these keys and counts.
    assert _data(out.r.dropout.key.value).tolist() == [
        [3704974950, 1863054868],
        [2705940334, 2639757084],
    ]
    assert out.r.dropout.count.value.tolist() == [0, 0]
    assert m.r.dropout.key.value.shape == () and int(m.r.dropout.count.value) == 1


def test_without_graph_updates_a_fork_without_split_draws_one_key_per_stream() -> None:
    m = Holder()
    out = fork_rngs(m, graph=False)
    assert _data(out.r.default.key.value).tolist() == [1797259609, 2579123966]  # flax 0.12.8
    assert int(out.r.default.count.value) == 0 and int(m.r.default.count.value) == 1


def test_tree_mode_fork_refuses_a_shared_stream_by_path() -> None:
    m = Model()
    with pytest.raises(ValueError, match=r"(?s)node\.rngs and node\.shared.*graph=True"):
        fork_rngs(m, split=2, graph=False)
    assert int(m.rngs.params.count.value) == 0
    fork_rngs(m, split=2, graph_updates=False)  # graph mode keeps the sharing


def test_fork_rngs_decorator_without_graph_updates_hands_the_function_a_copy() -> None:
    m = Holder()

    @fork_rngs(split=3, graph_updates=False)
    def shapes(m: Holder) -> tuple[tuple[int, ...], tuple[int, ...]]:
        m.w.value = m.w.value + 1  # a shared Variable: the write reaches the caller
        return m.r.dropout.key.value.shape, m.r.default.key.value.shape

    assert shapes(m) == ((3,), (3,))
    assert m.r.dropout.key.value.shape == () and int(m.r.dropout.count.value) == 1
    assert m.w.value.tolist() == [1.0, 1.0]
