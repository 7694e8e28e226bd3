"""Checkpoints cross between flax 0.12 and nnx in both directions (flax is in the bench group)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nnx_checkpoint import restore, save
from nnx_graph import List, Module, state
from nnx_layers import BatchNorm, Linear
from nnx_variables import Rngs

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")
ocp = pytest.importorskip("orbax.checkpoint")


class Ours(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.linear = Linear(2, 3, rngs=rngs)
        self.bn = BatchNorm(3, rngs=rngs)
        self.layers = List([Linear(3, 3, rngs=rngs)])


class Theirs(fnnx.Module):  # type: ignore[misc]  # flax is untyped here
    def __init__(self, rngs: fnnx.Rngs) -> None:
        self.linear = fnnx.Linear(2, 3, rngs=rngs)
        self.bn = fnnx.BatchNorm(3, rngs=rngs)
        self.layers = fnnx.List([fnnx.Linear(3, 3, rngs=rngs)])


def assert_same(ours: Ours, theirs: object) -> None:
    flat = {tuple(str(k) for k in p): v.value for p, v in state(ours).flat_dict().items()}
    pure = fnnx.to_pure_dict(fnnx.state(theirs))
    leaves = jax.tree_util.tree_leaves_with_path(pure)
    assert len(leaves) == len(flat)
    for path, value in leaves:
        key = tuple(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        np.testing.assert_array_equal(flat[key], value, err_msg=str(key))


def test_a_flax_checkpoint_restores_into_the_same_nnx_model(tmp_path: object) -> None:
    theirs = Theirs(fnnx.Rngs(0))
    theirs.bn.mean[...] = theirs.bn.mean[...] + 3.0
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(f"{tmp_path}/flax", fnnx.state(theirs))
    checkpointer.wait_until_finished()
    ours = restore(f"{tmp_path}/flax", Ours(Rngs(1)))
    assert_same(ours, theirs)


def test_flax_reads_ours_as_a_pure_dict(tmp_path: object) -> None:
    ours = Ours(Rngs(2))
    save(f"{tmp_path}/ours", ours)
    theirs = Theirs(fnnx.Rngs(3))
    flax_state = fnnx.state(theirs)
    fnnx.replace_by_pure_dict(flax_state, ocp.StandardCheckpointer().restore(f"{tmp_path}/ours"))
    fnnx.update(theirs, flax_state)
    assert_same(ours, theirs)
