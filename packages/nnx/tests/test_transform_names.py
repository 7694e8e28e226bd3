"""The issue-12 transform names, reached as a flax user reaches them."""

import jax
import jax.numpy as jnp

import nnx
from nnx.transforms.general import merge_inputs, split_inputs


class Scale(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.array(2.0))


def test_names_exist_at_the_top_level():
    for name in ("custom_vjp", "checkify", "shard_map", "pmap", "StateSharding", "DiffState"):
        assert callable(getattr(nnx, name)), name
    assert nnx.PARTITION_NAME == "partition_name"
    assert nnx.transforms.general.split_inputs is split_inputs


def test_split_and_merge_inputs_through_the_namespace():
    @split_inputs
    @jax.jit
    @merge_inputs
    def double(m, x):
        m.w.value = m.w.value * 2
        return x

    m = Scale()
    double(m, 1.0)
    assert float(m.w.value) == 4.0
