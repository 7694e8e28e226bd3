"""The seed tutorial's core cells, run as written with `import nnx`.

"The Module System" (the user-defined Linear and Counter) and the whole "The Functional
API" section need only the graph core and the Variable kinds, so they are checked here
on their own, value by value, independently of layers and transforms. The cells are read
from the seed notebook itself, not copied; only their ``nnx.display(...)`` lines are
dropped (display is tested by its own package).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seed

# Each cell this file runs, found by a line that only it contains, in notebook order.
CELL_MARKERS = {
    "imports": "import jax.numpy as jnp",
    "Linear": "class Linear(nnx.Module):",
    "first Linear": "model = Linear(2, 5, rngs=nnx.Rngs(params=0))",
    "Counter": "class Counter(nnx.Module):",
    "StatefulLinear": "class StatefulLinear(nnx.Module):",
    "split": "graphdef, state = nnx.split(model)\n\nnnx.display(graphdef, state)",
    "jit forward": "def forward(graphdef: nnx.GraphDef",
    "filters": "graphdef, params, counts = nnx.split(model, nnx.Param, Count)",
    "merge and update": "nnx.update(model, params, counts)",
}


def core_cells() -> dict[str, str]:
    cells = seed.code_cells()
    found = {}
    for name, marker in CELL_MARKERS.items():
        matching = [cell for cell in cells if marker in cell]
        assert len(matching) == 1, f"cell {name!r}: {len(matching)} cells contain {marker!r}"
        found[name] = "\n".join(
            line for line in matching[0].splitlines() if not line.startswith("nnx.display(")
        )
    return found


def run(cells: dict[str, str], names: list[str], namespace: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for name in names:
            exec(compile(cells[name], f"<flax_basics.md: {name}>", "exec"), namespace)
    return out.getvalue()


def expected(cell: str) -> str:
    rows = dict(seed.expected_prints())
    return rows[cell]


@pytest.fixture
def cells() -> dict[str, str]:
    return core_cells()


@pytest.fixture
def namespace(cells: dict[str, str]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "tutorial_core"}
    run(cells, ["imports"], namespace)
    assert namespace["nnx"].__name__ == "nnx"
    return namespace


# -- The Module System -----------------------------------------------------------------


def test_first_linear(cells: dict[str, str], namespace: dict[str, Any]) -> None:
    printed = run(cells, ["Linear", "first Linear"], namespace)
    assert printed.strip() == expected("first Linear")
    nnx, model = namespace["nnx"], namespace["model"]
    assert type(model.w) is nnx.Param and type(model.b) is nnx.Param
    assert (model.din, model.dout) == (2, 5)
    key = jax.random.fold_in(jax.random.key(0), 0)  # the params stream's first key
    np.testing.assert_array_equal(model.w.value, jax.random.uniform(key, (2, 5)))
    np.testing.assert_allclose(
        namespace["y"],
        [[1.5643291, 0.94782424, 0.37971854, 1.0724319, 0.22112393]],
        rtol=1e-6,
    )
    graphdef, state = nnx.split(model)
    assert set(state.flat_dict()) == {("w",), ("b",)}  # din / dout are static
    assert nnx.merge(graphdef, state).din == 2


def test_counter(cells: dict[str, str], namespace: dict[str, Any]) -> None:
    printed = run(cells, ["Counter"], namespace).splitlines()
    assert printed == [expected("Counter, before"), expected("Counter, after")]
    counter, count_kind = namespace["counter"], namespace["Count"]
    assert type(counter.count) is count_kind  # `self.count += 1` kept the Variable
    box = counter.count
    counter()
    assert counter.count is box and int(counter.count.value) == 2


# -- The Functional API ----------------------------------------------------------------

FUNCTIONAL = ["StatefulLinear", "split", "jit forward", "filters", "merge and update"]


def test_functional_api_section(cells: dict[str, str], namespace: dict[str, Any]) -> None:
    run(cells, FUNCTIONAL[:1], namespace)
    nnx, first_model = namespace["nnx"], namespace["model"]
    assert int(first_model.count.value) == 1 and first_model.count.value.dtype == jnp.uint32
    assert namespace["y"].shape == (1, 5)

    run(cells, FUNCTIONAL[1:2], namespace)
    graphdef, state = namespace["graphdef"], namespace["state"]
    assert isinstance(graphdef, nnx.GraphDef) and isinstance(state, nnx.State)
    assert set(state.flat_dict()) == {("w",), ("b",), ("count",)}
    assert state.count.type is namespace["Count"]

    printed = run(cells, FUNCTIONAL[2:3], namespace).splitlines()
    assert printed == [expected("functional API, before"), expected("functional API, after")]
    assert namespace["model"] is first_model  # update wrote into the original
    assert namespace["y"].shape == (1, 5)

    run(cells, FUNCTIONAL[3:], namespace)
    params, counts = namespace["params"], namespace["counts"]
    assert set(params.flat_dict()) == {("w",), ("b",)}
    assert set(counts.flat_dict()) == {("count",)}
    assert {leaf.type for leaf in params.flat_dict().values()} == {nnx.Param}
    merged = namespace["model"]
    assert merged is not first_model and type(merged).__name__ == "StatefulLinear"
    assert int(merged.count.value) == 2 and merged.count.value.dtype == jnp.uint32
    np.testing.assert_array_equal(merged.w.value, first_model.w.value)


def test_jit_forward_keeps_the_structure(cells: dict[str, str], namespace: dict[str, Any]) -> None:
    run(cells, FUNCTIONAL[:3], namespace)
    nnx, model, forward = namespace["nnx"], namespace["model"], namespace["forward"]
    graphdef, state = nnx.split(model)
    for expected_count in (3, 4):
        y, state = forward(graphdef, state, x=jnp.ones((1, 3)))
        nnx.update(model, state)
        assert int(model.count.value) == expected_count
        # The GraphDef, jit's static part of the arguments, is unchanged: a cache hit.
        assert nnx.graphdef(model) == graphdef and hash(nnx.graphdef(model)) == hash(graphdef)
    np.testing.assert_allclose(y, jnp.ones((1, 3)) @ model.w.value + model.b.value, rtol=1e-6)


def test_filters_must_be_exhaustive(cells: dict[str, str], namespace: dict[str, Any]) -> None:
    # "Note that filters must be exhaustive, if a value is not matched an error will be raised."
    run(cells, FUNCTIONAL[:1], namespace)
    nnx, model = namespace["nnx"], namespace["model"]
    with pytest.raises(
        nnx.FilterError, match=r"(?s)model.count.*Count.*nnx.split\(model, Param, \.\.\.\)"
    ):
        nnx.split(model, nnx.Param)
