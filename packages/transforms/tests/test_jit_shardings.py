"""nnx.jit's per-argument in_shardings and out_shardings, on whatever devices are visible.

The layouts over a real 2x4 mesh are checked in the root ``tests/test_sharding.py``; here,
a one-device mesh checks the translation from arguments to leaves and its errors.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from nnx_graph import State, state
from nnx_transforms import jit
from nnx_variables import Rngs

from .conftest import Dense

MESH = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
WHOLE = NamedSharding(MESH, P())


def shardings_of(model: Dense) -> State:
    return jax.tree.map(lambda _: WHOLE, state(model))


def forward(model: Dense, x: jax.Array) -> jax.Array:
    return model(x)


def test_a_state_of_shardings_per_object_argument_runs_like_no_shardings() -> None:
    model, x = Dense(3, 2, rngs=Rngs(0)), jnp.ones((4, 3))
    out = jit(forward, in_shardings=(shardings_of(model), WHOLE))(model, x)
    np.testing.assert_allclose(out, model(x), rtol=1e-6)
    assert out.sharding.mesh.shape == MESH.shape


def test_objects_nested_in_a_container_take_a_matching_prefix() -> None:
    models = (Dense(3, 3, rngs=Rngs(0)), Dense(3, 2, rngs=Rngs(1)))
    x = jnp.ones((4, 3))

    def chain(models: tuple[Dense, Dense], x: jax.Array) -> jax.Array:
        return models[1](models[0](x))

    prefix = ((shardings_of(models[0]), None), None)
    out = jit(chain, in_shardings=prefix)(models, x)
    np.testing.assert_allclose(out, chain(models, x), rtol=1e-6)


def test_a_second_structure_gets_its_own_layout() -> None:
    jitted = jit(forward, in_shardings=(None, WHOLE))
    small, large = Dense(3, 2, rngs=Rngs(0)), Dense(3, 5, rngs=Rngs(0))
    x = jnp.ones((4, 3))
    assert jitted(small, x).shape == (4, 2)
    assert jitted(large, x).shape == (4, 5)
    assert jitted(small, x).shape == (4, 2)


def test_out_shardings_prefix_and_object_updates_together() -> None:
    model, x = Dense(3, 2, rngs=Rngs(0)), jnp.ones((4, 3))

    @jit(out_shardings=(WHOLE, None))
    def step(model: Dense, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        model.b.value = model.b.value + 1.0
        return model(x), jnp.sum(x)

    out, total = step(model, x)
    np.testing.assert_allclose(model.b.value, jnp.ones(2))
    np.testing.assert_allclose(out, model(x), rtol=1e-6)
    assert float(total) == 12.0


@pytest.mark.parametrize(
    ("in_shardings", "error", "words"),
    [
        (P(), TypeError, "one entry per positional argument"),
        ((None, None, None), ValueError, "3 entries for 2 positional arguments"),
        ((None, (None,)), ValueError, "args\\[1\\]"),
        ((State({}), None), ValueError, "no sharding for args\\[0\\]\\.b, args\\[0\\]\\.w"),
        ((None, State({})), ValueError, "not an object"),
    ],
)
def test_shardings_that_do_not_fit_name_the_argument(
    in_shardings: Any, error: type[Exception], words: str
) -> None:
    model, x = Dense(3, 2, rngs=Rngs(0)), jnp.ones((4, 3))
    before = np.asarray(model.w.value)
    with pytest.raises(error, match=words):
        jit(forward, in_shardings=in_shardings)(model, x)
    np.testing.assert_array_equal(model.w.value, before)
