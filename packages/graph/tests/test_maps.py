"""nnx.map and nnx.recursive_map (flax 0.12)."""

import jax.numpy as jnp
import numpy as np

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
