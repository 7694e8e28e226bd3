"""A checkpoint flax 0.10.7 wrote restores into the same model built with nnx.

The fixture beside this file was written by ``fixtures/make_flax_0_10.py`` (run by hand
with flax 0.10.7: its docstring says how); the test needs neither flax nor anything
outside the repository.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_checkpoint import CheckpointError, restore
from nnx_graph import List, Module, state
from nnx_layers import BatchNorm, Linear, relu
from nnx_variables import BatchStat, Param, Rngs

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "flax_0_10_7")


class Model(Module):
    """The fixture's model: flax 0.10.7 kept ``layers`` as a plain list, nnx as a List."""

    def __init__(self, rngs: Rngs) -> None:
        self.linear = Linear(2, 3, rngs=rngs)
        self.bn = BatchNorm(3, rngs=rngs)
        self.layers = List([Linear(3, 2, rngs=rngs)])

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layers[0](relu(self.bn(self.linear(x))))


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    with open(os.path.join(FIXTURE, "values.json")) as file:
        loaded: dict[str, Any] = json.load(file)
    assert loaded["flax"] == "0.10.7"
    return loaded


def flat_values(model: Model) -> dict[str, np.ndarray]:
    return {
        "/".join(str(k) for k in path): np.asarray(v.value)
        for path, v in state(model).flat_dict().items()
    }


def test_a_flax_0_10_checkpoint_restores_into_the_same_nnx_model(
    record: dict[str, Any],
) -> None:
    # The same seed initialises the same numbers in both; the fixture saved them after a
    # training step, so every value must come from the checkpoint.
    model = Model(Rngs(0))
    expected = {k: np.asarray(v, np.float32) for k, v in record["values"].items()}
    before = flat_values(model)
    assert before.keys() == expected.keys()
    assert all(not np.array_equal(before[k], expected[k]) for k in expected)

    restored = restore(os.path.join(FIXTURE, "checkpoint"), model)

    assert restored is model
    after = flat_values(model)
    for key, value in expected.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    model.eval()
    x = jnp.asarray(record["input"], jnp.float32)
    np.testing.assert_allclose(model(x), np.asarray(record["output"]), rtol=1e-6, atol=1e-6)


def test_a_flax_0_10_checkpoint_restores_params_only(record: dict[str, Any]) -> None:
    model = Model(Rngs(0))
    stats = {"/".join(map(str, p)): v.value for p, v in state(model, BatchStat).flat_dict().items()}
    restore(os.path.join(FIXTURE, "checkpoint"), model, Param)
    after = flat_values(model)
    for key, value in record["values"].items():
        want = stats.get(key, np.asarray(value, np.float32))
        np.testing.assert_array_equal(after[key], want, err_msg=key)


def test_a_flax_0_10_checkpoint_that_does_not_fit_is_reported() -> None:
    model = Model(Rngs(0))
    model.linear = Linear(2, 4, rngs=Rngs(0))
    kernel = model.linear.kernel.value
    with pytest.raises(CheckpointError, match=r"(?s)model\.linear\.kernel.*shape=\(2, 3\)"):
        restore(os.path.join(FIXTURE, "checkpoint"), model)
    assert model.linear.kernel.value is kernel
