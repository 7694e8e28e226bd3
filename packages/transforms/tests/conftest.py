"""Small modules for the transform tests, built from nnx-graph and nnx-variables only."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, Object, Variable
from nnx_variables import BatchStat, Param, Rngs


class Count(Variable):
    pass


class Dense(Module):
    def __init__(self, din: int, dout: int, *, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (din, dout)) / din)
        self.b = Param(jnp.zeros((dout,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w + self.b


class Stateful(Module):
    """A layer with every kind of state a transform must carry: params, stats, RNG, counter."""

    def __init__(self, din: int, dout: int, *, rngs: Rngs) -> None:
        self.dense = Dense(din, dout, rngs=rngs)
        self.mean = BatchStat(jnp.zeros((dout,)))
        self.count = Count(jnp.array(0, dtype=jnp.uint32))
        self.rngs = rngs
        self.deterministic = False

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.dense(x)
        self.mean.value = 0.9 * self.mean.value + 0.1 * y.mean(axis=0)
        self.count += 1
        if not self.deterministic:
            y = y + 0.01 * jax.random.normal(self.rngs.noise(), y.shape)
        return y


class Trainer(Object):
    """Holds the model by reference, as an Optimizer does."""

    def __init__(self, model: Module) -> None:
        self.model = model
        self.steps = Count(jnp.array(0, dtype=jnp.uint32))

    def apply(self, grads: object) -> None:
        params = self.model.dense
        params.w.value = params.w.value - 0.1 * grads["dense"]["w"].value  # type: ignore[index]
        params.b.value = params.b.value - 0.1 * grads["dense"]["b"].value  # type: ignore[index]
        self.steps += 1


@pytest.fixture
def model() -> Stateful:
    return Stateful(3, 4, rngs=Rngs(0))


def values(node: object) -> dict[tuple[object, ...], object]:
    """Every leaf value of a graph by path, for before/after comparisons."""
    from nnx_graph import state

    return {
        path: leaf.value if hasattr(leaf, "value") else leaf
        for path, leaf in state(node).flat_dict().items()
    }


def same_values(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    return a.keys() == b.keys() and all(
        bool(
            jnp.array_equal(
                jax.random.key_data(a[k]) if _is_key(a[k]) else a[k],
                jax.random.key_data(b[k]) if _is_key(b[k]) else b[k],
            )
        )
        for k in a
    )


def _is_key(x: object) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)  # type: ignore[attr-defined]


class Kit:
    """The test modules and helpers, handed to tests as a fixture (importlib mode has no
    importable conftest)."""

    Count = Count
    Dense = Dense
    Stateful = Stateful
    Trainer = Trainer
    values = staticmethod(values)
    same_values = staticmethod(same_values)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
