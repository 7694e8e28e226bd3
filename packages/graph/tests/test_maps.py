"""nnx.map and nnx.recursive_map (flax 0.12)."""

import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Linear(ng.Module):
    def __init__(self, n=1):
        self.kernel = ng.Variable(jnp.ones((1, n)))
        self.n = n


class Model(ng.Module):
    def __init__(self):
        self.l = Linear()
        self.tied = self.l
        self.xs = [jnp.ones(1), 3]
        self.k = 5


def test_recursive_map_visits_children_first_and_each_shared_node_once():
    model, seen = Model(), []

    def record(path, node):
        seen.append((path, type(node).__name__))
        return node

    copy = ng.recursive_map(record, model)
    assert seen == [
        (("k",), "int"),
        (("l", "kernel"), "Variable"),
        (("l", "n"), "int"),
        (("l",), "Linear"),
        (("xs", 0), "ArrayImpl"),
        (("xs", 1), "int"),
        (("xs",), "list"),
        ((), "Model"),
    ]
    assert copy is not model and copy.l is not model.l and copy.tied is copy.l
    assert copy.l.kernel is model.l.kernel  # leaves pass through


def test_recursive_map_swaps_modules_and_keeps_sharing():
    model = Model()
    widened = ng.recursive_map(lambda p, x: Linear(2) if isinstance(x, Linear) else x, model)
    assert widened.l.kernel.shape == (1, 2) and widened.tied is widened.l
    assert model.l.kernel.shape == (1, 1)


def test_map_replaces_state_leaves_in_a_new_node():
    model = Model()
    zeroed = ng.map(
        lambda p, v: v.replace(jnp.zeros_like(v[...])) if isinstance(v, ng.Variable) else v,
        model,
    )
    np.testing.assert_array_equal(zeroed.l.kernel[...], [[0.0]])
    np.testing.assert_array_equal(model.l.kernel[...], [[1.0]])
    assert zeroed.tied is zeroed.l and zeroed.k == 5


class Stat(ng.Variable):
    pass


class Plain(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(2), note="kept")
        self.s = Stat(jnp.zeros(1))


def test_map_recreates_the_variable_a_function_returns_a_raw_value_for():
    model = Plain()
    doubled = ng.map(lambda p, v: v[...] * 2, model)
    assert type(doubled.w) is ng.Variable and type(doubled.s) is Stat
    assert doubled.w.note == "kept"  # the leaf's metadata comes back with it
    np.testing.assert_array_equal(doubled.w[...], [2.0, 2.0])


def test_map_without_recreate_variables_puts_the_raw_values_in_the_graph():
    model = Plain()
    doubled = ng.map(lambda p, v: v[...] * 2, model, recreate_variables=False)
    assert not isinstance(doubled.w, ng.Variable)
    np.testing.assert_array_equal(doubled.w, [2.0, 2.0])
    assert isinstance(model.w, ng.Variable)


def test_map_of_a_bare_variable_calls_the_function_once_at_the_empty_path():
    seen = []
    variable = Stat(jnp.ones(2))
    mapped = ng.map(lambda p, v: seen.append(p) or v[...] + 1, variable)
    assert seen == [()] and type(mapped) is Stat
    np.testing.assert_array_equal(mapped[...], [2.0, 2.0])
    raw = ng.map(lambda p, v: v[...] + 1, variable, recreate_variables=False)
    assert not isinstance(raw, ng.Variable)


@pytest.mark.parametrize(
    ("op", "fun"),
    [("nnx.map", lambda f, m, **kw: ng.map(f, m, **kw)), ("nnx.recursive_map", ng.recursive_map)],
)
def test_tree_mode_refuses_a_shared_node_and_otherwise_maps_the_same(op, fun):
    with pytest.raises(ValueError, match=rf"(?s){op}: tree mode.*model\.l and model\.tied"):
        fun(lambda p, x: x, Model(), graph=False)
    assert fun(lambda p, x: x, Model(), graph=True).tied is not None
    model = Plain()
    in_tree = fun(lambda p, x: x, model, graph=False)
    assert in_tree is not model and in_tree.w is model.w
