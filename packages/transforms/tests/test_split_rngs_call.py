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
