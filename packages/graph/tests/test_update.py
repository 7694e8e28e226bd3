"""update: write States back into an existing graph in place."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Count(ng.Variable):
    pass


class StatefulLinear(ng.Module):
    def __init__(self):
        self.w = Param(jnp.ones((2, 2)), sharding=("a", "b"))
        self.b = Param(jnp.zeros(2))
        self.count = Count(jnp.array(0, dtype=jnp.uint32))
        self.raw = jnp.array(1.0)
        self.history = [jnp.array(0.0)]
        self.table = {"x": jnp.array(0.0)}

    def __call__(self, x):
        self.count += 1
        return x @ self.w + self.b


def test_update_writes_into_the_same_variables():
    model = StatefulLinear()
    boxes = (model.w, model.b, model.count)
    graphdef, state = ng.split(model)
    other = ng.merge(graphdef, state)
    other(jnp.ones((1, 2)))
    other.w.value = other.w.value * 3
    other.raw = jnp.array(5.0)
    other.history[0] = jnp.array(6.0)
    other.table["x"] = jnp.array(7.0)
    ng.update(model, ng.state(other))
    assert (model.w, model.b, model.count) == boxes
    assert int(model.count.value) == 1 and model.count.value.dtype == jnp.uint32
    np.testing.assert_array_equal(model.w.value, jnp.full((2, 2), 3.0))
    assert float(model.raw) == 5.0
    assert float(model.history[0]) == 6.0 and float(model.table["x"]) == 7.0


def test_update_with_several_and_partial_states():
    model = StatefulLinear()
    _, params, counts, _ = ng.split(model, Param, Count, ...)
    params = jax.tree.map(lambda x: x + 1, params)
    counts = jax.tree.map(lambda x: x + 5, counts)
    ng.update(model, params, counts)
    assert float(model.b.value[0]) == 1.0 and int(model.count.value) == 5
    ng.update(model, ng.State({}))  # nothing to write is fine
    assert int(model.count.value) == 5


def test_update_round_trips_through_jit():
    model = StatefulLinear()
    graphdef, state = ng.split(model)

    @jax.jit
    def forward(graphdef, state, x):
        inner = ng.merge(graphdef, state)
        y = inner(x)
        return y, ng.split(inner)[1]

    y, state = forward(graphdef, state, jnp.ones((1, 2)))
    ng.update(model, state)
    assert int(model.count.value) == 1
    np.testing.assert_allclose(y, [[2.0, 2.0]])


def test_update_keeps_metadata_from_the_state():
    model = StatefulLinear()
    _, state = ng.split(model)
    state["w"] = state["w"].replace(sharding=("c", "d"))
    ng.update(model, state)
    assert model.w.out_sharding == ("c", "d")


def test_update_with_pure_values():
    model = StatefulLinear()
    ng.update(model, ng.State({"b": jnp.full(2, 4.0)}))
    assert type(model.b) is Param
    np.testing.assert_array_equal(model.b.value, [4.0, 4.0])


def test_update_shared_variable_by_its_first_path():
    model = StatefulLinear()
    model.alias = model.w
    _, state = ng.split(model)
    assert ("alias",) in state.flat_dict() and ("w",) not in state.flat_dict()
    state["alias"] = state["alias"].replace(jnp.zeros((2, 2)))
    ng.update(model, state)
    assert model.alias is model.w and float(model.w.value.sum()) == 0.0


def test_update_with_unknown_paths_names_them_and_changes_nothing():
    model = StatefulLinear()
    before = ng.state(model)
    boxes = dict(vars(model))
    bad = ng.State(
        {
            "b": ng.VariableState(Param, jnp.full(2, 9.0)),
            "kernel": ng.VariableState(Param, jnp.ones(3)),
            "sub": {"w": ng.VariableState(Param, jnp.ones(1))},
        }
    )
    with pytest.raises(
        ng.StateMismatchError,
        match=r"(?s)paths that are not in the graph.*state.kernel: Array\(shape=\(3,\)"
        r".*state.sub.w.*Expected: paths among: .*model.b.*Fix: update with a State split",
    ):
        ng.update(model, bad)
    assert ng.state(model) == before and dict(vars(model)) == boxes


def test_update_of_a_bare_array_in_a_tuple_is_refused_before_any_write():
    model = StatefulLinear()
    model.pair = (jnp.array(1.0), jnp.array(2.0))
    _, state = ng.split(model)
    state = jax.tree.map(lambda x: x + 10, state)
    before = ng.state(model)
    with pytest.raises(
        ng.StateMismatchError,
        match=r"(?s)immutable containers.*model.pair\[0\].*\(in a tuple\).*model.pair\[1\]"
        r".*Fix: hold the array in a Variable",
    ):
        ng.update(model, state)
    assert ng.state(model) == before


def test_update_with_a_non_state_gives_the_fix():
    with pytest.raises(TypeError, match=r"(?s)nnx.update expected States, got 3.*nnx.split"):
        ng.update(StatefulLinear(), 3)
