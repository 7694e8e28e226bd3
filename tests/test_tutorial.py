"""Every code cell of the seed tutorial, in order, printing the reference values."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import pytest
import seed


@pytest.fixture(scope="module")
def tutorial() -> tuple[dict[str, Any], str]:
    cells = seed.code_cells()
    assert len(cells) >= 12, f"expected the tutorial's code cells, found {len(cells)}"
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in cells:
            exec(compile(cell, "<flax_basics.md>", "exec"), namespace)
    return namespace, out.getvalue()


def test_every_expected_value_is_printed_in_order(tutorial: tuple[dict[str, Any], str]) -> None:
    _, printed = tutorial
    position = 0
    for cell, text in seed.expected_prints():
        found = printed.find(text, position)
        assert found >= 0, (
            f"cell {cell!r}: {text!r} not printed after position {position}:\n{printed}"
        )
        position = found + len(text)


def test_train_step_updated_the_model_state(tutorial: tuple[dict[str, Any], str]) -> None:
    namespace, _ = tutorial
    # The train_step cell's model was replaced by later cells; rebuild the same step.
    nnx, optax = namespace["nnx"], namespace["optax"]
    model = namespace["MLP"](2, 16, 10, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3))
    kernel = model.linear1.w.value
    loss = namespace["train_step"](model, optimizer, jnp.ones((5, 2)), jnp.ones((5, 10)))
    assert float(loss) == pytest.approx(1.0000625, abs=1e-6)
    assert optimizer.model is model
    assert int(optimizer.step.value) == 1
    assert not jnp.allclose(model.linear1.w.value, kernel)
    assert not jnp.allclose(model.bn.mean.value, 0.0)
    # keys drawn: 2 Linear inits, BatchNorm scale and bias (as the reference), 1 dropout mask
    assert int(model.dropout.rngs.default.count.value) == 5


def test_vmap_and_scan_cell(tutorial: tuple[dict[str, Any], str]) -> None:
    namespace, _ = tutorial
    stacked = namespace["create_model"](jax.random.split(jax.random.key(0), 5))
    assert stacked.linear1.w.value.shape == (5, 10, 32)
    assert namespace["forward"].__name__ == "forward"


def test_functional_api_cells(tutorial: tuple[dict[str, Any], str]) -> None:
    namespace, _ = tutorial
    nnx = namespace["nnx"]
    model = namespace["model"]
    assert int(model.count.value) == 2
    params, counts = namespace["params"], namespace["counts"]
    assert set(params.flat_dict()) == {("w",), ("b",)}
    assert set(counts.flat_dict()) == {("count",)}
    assert isinstance(namespace["graphdef"], nnx.GraphDef)
