"""nnx.split_rngs as a plain call, as flax has it: split in place, restore from backups."""

import jax
import jax.numpy as jnp
import numpy as np

import nnx_graph as ng
import nnx_transforms as nt
from nnx_variables import Param, Rngs, SplitBackups, restore_rngs


class Linear(ng.Module):
    """A layer drawing its kernel from the params stream (nnx-layers is not a dependency)."""

    def __init__(self, n_in, n_out, *, rngs):
        self.kernel = Param(jax.random.normal(rngs.params(), (n_in, n_out)))


def test_a_plain_call_splits_in_place_and_returns_backups_for_restore_rngs():
    rngs = Rngs(0, params=1)
    backups = nt.split_rngs(rngs, splits=5, only="params")
    assert isinstance(backups, SplitBackups)
    assert rngs.params.key.value.shape == (5,) and rngs.default.key.value.shape == ()
    np.testing.assert_array_equal(rngs.params.count.value, np.zeros(5))
    restore_rngs(backups)
    assert rngs.params.key.value.shape == () and int(rngs.params.count.value) == 1


def test_the_split_keys_feed_a_vmapped_constructor():
    rngs = Rngs(0)
    backups = nt.split_rngs(rngs, splits=4)
    stack = nt.vmap(lambda r: Linear(2, 3, rngs=r), in_axes=0)(rngs)
    restore_rngs(backups)
    kernels = stack.kernel.value
    assert kernels.shape == (4, 2, 3)
    assert not jnp.allclose(kernels[0], kernels[1])
    with nt.split_rngs(rngs, splits=(2, 3)):
        assert rngs.default.key.value.shape == (2, 3)
    assert rngs.default.key.value.shape == ()


def test_the_keys_match_the_decorator_form():
    first, second = Rngs(0), Rngs(0)
    backups = nt.split_rngs(first, splits=3)
    keys = jax.random.key_data(first.default.key.value)
    restore_rngs(backups)

    @nt.split_rngs(splits=3)
    def read(rngs):
        return jax.random.key_data(rngs.default.key.value)

    np.testing.assert_array_equal(keys, read(second))


def _data(key):
    return np.asarray(jax.random.key_data(key)).tolist()


def test_squeeze_keeps_one_key_of_the_usual_shape():
    # Flax NNX 0.12.8 printed this key: jax.random.split(fold_in(key(0), 0), 1)[0].
    rngs = Rngs(0)
    backups = nt.split_rngs(rngs, splits=1, squeeze=True)
    assert _data(rngs.default.key.value) == [4165894930, 804218099]
    assert rngs.default.count.value.shape == ()
    restore_rngs(backups)
    assert int(rngs.default.count.value) == 1


def test_squeeze_as_a_decorator_and_only_with_one_split():
    rngs = Rngs(0)

    @nt.split_rngs(splits=1, squeeze=True)
    def shape(rngs):
        return rngs.default.key.value.shape

    assert shape(rngs) == () and int(rngs.default.count.value) == 1
    with np.testing.assert_raises_regex(ValueError, r"squeeze=True.*splits=1.*got splits=4"):
        nt.split_rngs(rngs, splits=4, squeeze=True)


def test_without_graph_updates_a_split_copy_comes_back():
    rngs = Rngs(0)
    out = nt.split_rngs(rngs, splits=1, squeeze=True, graph=False)
    assert _data(out.default.key.value) == [4165894930, 804218099]
    assert rngs.default.key.value.shape == () and int(rngs.default.count.value) == 1
    out = nt.split_rngs(rngs, splits=3, graph_updates=False)
    assert out is not rngs and out.default.key.value.shape == (3,)


def test_a_decorated_function_without_graph_updates_gets_the_copy():
    class Model(ng.Module):
        def __init__(self):
            self.w = Param(jnp.zeros(2))
            self.rngs = Rngs(0)

    m = Model()

    @nt.split_rngs(splits=3, graph_updates=False)
    def bump(m):
        m.w.value = m.w.value + 1  # shared with the caller's model
        return m.rngs.default.key.value.shape

    assert bump(m) == (3,)
    assert m.rngs.default.key.value.shape == () and int(m.rngs.default.count.value) == 1
    assert m.w.value.tolist() == [1.0, 1.0]
