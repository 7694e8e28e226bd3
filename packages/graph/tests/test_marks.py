"""nnx.data / nnx.static / register_data_type / nnx.dataclass / nnx.Pytree (flax 0.12)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import nnx_graph as ng


class Linear(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones((1, 1)))


class Marked(ng.Module):
    def __init__(self):
        self.a = ng.data(jnp.ones(2))
        self.s = ng.static([1, 2])
        self.layers = ng.data([Linear()])
        self.scale = ng.data(2.0)
        self.n = 3


def test_marked_attributes_read_back_as_plain_values_and_split_as_flax_0_12():
    model = Marked()
    assert isinstance(model.a, jax.Array) and model.s == [1, 2] and model.scale == 2.0
    assert isinstance(model.layers, list)
    state = ng.state(model)
    assert set(state.flat_dict()) == {("a",), ("layers", 0, "w"), ("scale",)}
    assert state["scale"] == 2.0
    graphdef, state = ng.split(model)
    rebuilt = ng.merge(graphdef, state)
    assert rebuilt.s == [1, 2] and rebuilt.scale == 2.0 and rebuilt.n == 3


def test_jax_tree_functions_follow_the_marks():
    leaves = jax.tree.leaves(Marked())
    assert len(leaves) == 3  # a, layers[0].w, scale; not s or n
    doubled = jax.tree.map(lambda x: x * 2, Marked())
    assert doubled.scale == 4.0 and doubled.s == [1, 2]


def test_a_data_scalar_is_traced_under_jit_and_written_back():

    model = Marked()
    graphdef, state = ng.split(model)

    @jax.jit
    def double(state):
        m = ng.merge(graphdef, state)
        m.scale = m.scale * 2
        return ng.state(m)

    ng.update(model, double(state))
    assert float(model.scale) == 4.0


def test_static_keeps_an_array_holding_container_out_of_the_state():
    class Table(ng.Module):
        def __init__(self):
            self.ids = ng.static((1, 2))
            self.w = ng.Variable(jnp.ones(2))

    assert list(ng.state(Table())) == ["w"]


def test_registered_data_types_are_leaves_wherever_they_appear():
    @ng.register_data_type
    @dataclasses.dataclass(frozen=True)
    class Config:
        depth: int = 2

    class Model(ng.Module):
        def __init__(self):
            self.config = Config()
            self.configs = [Config(3)]

    model = Model()
    state = ng.state(model)
    assert state["config"] == Config() and state["configs"][0] == Config(3)
    assert jax.tree.leaves(model) == [Config(), Config(3)]


def test_dataclass_objects_with_static_fields():
    @ng.dataclass
    class Point(ng.Pytree):
        x: jax.Array
        label: str = ng.static(default="p")
        weight: float = ng.data(default=1.0)

    point = Point(jnp.ones(1))
    assert point.label == "p"
    assert set(ng.state(point).flat_dict()) == {("x",), ("weight",)}
    assert jax.tree.leaves(point)[1] == 1.0
    np.testing.assert_array_equal(jax.tree.leaves(point)[0], [1.0])
    assert ng.Pytree is ng.Object


def test_marking_an_attribute_later_changes_the_structure_cached_walks_saw():
    class Late(ng.Module):
        def __init__(self):
            self.k = 3

    model = Late()
    assert list(ng.state(model)) == []
    model.k = ng.data(3)
    assert list(ng.state(model)) == ["k"]
