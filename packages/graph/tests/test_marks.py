"""nnx.data / nnx.static / register_data_type / nnx.dataclass / nnx.Pytree (flax 0.12)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


# -- class-level marks: nnx.Data / nnx.Static annotations, fields (flax 0.12.8) ---------


class Annotated(ng.Module):
    n: ng.Data[int]
    ids: ng.Static[tuple]

    def __init__(self):
        self.n = 3
        self.ids = (1, 2)
        self.k = 5
        self.w = jnp.zeros(1)


def test_data_and_static_annotations_mark_every_instance():
    model = Annotated()
    # flax 0.12.8 printed [3, Array([0.], dtype=float32)]: n is a leaf, ids and k are not
    leaves = jax.tree.leaves(model)
    assert leaves[0] == 3 and len(leaves) == 2
    assert set(ng.state(model).flat_dict()) == {("n",), ("w",)}
    assert ng.Data[int].__metadata__ == ("__data__",)  # as flax 0.12.8
    assert ng.Static[int].__metadata__ == ("__static__",)


def test_a_data_annotated_int_is_traced_under_jit():
    @jax.jit
    def double(model):
        assert isinstance(model.n, jax.core.Tracer)
        return model.n * 2

    assert double(Annotated()) == 6


def test_string_annotations_and_inheritance():
    class Base(ng.Module):
        n: "ng.Data[int]"
        s: "Later[int]"  # noqa: F821  (unresolvable: read by its spelling)

    class Child(Base):
        def __init__(self):
            self.n, self.m = 1, 2

    assert jax.tree.leaves(Child()) == [1]

    class Override(Base):
        n: ng.Static[int]

        def __init__(self):
            self.n = 1

    assert jax.tree.leaves(Override()) == []


def test_an_explicit_mark_on_assignment_overrides_the_annotation():
    class ToStatic(ng.Module):
        n: ng.Data[int]

        def __init__(self):
            self.n = ng.static(3)

    class ToData(ng.Module):
        n: ng.Static[int]

        def __init__(self):
            self.n = ng.data(3)

    assert jax.tree.leaves(ToStatic()) == [] and jax.tree.leaves(ToData()) == [3]


def test_class_level_fields_mark_without_a_dataclass():
    class Defaults(ng.Module):
        x: int = ng.data(default=1)

        def __init__(self):
            self.x = 5

    assert jax.tree.leaves(Defaults()) == [5]


def test_annotations_in_dataclasses():
    @ng.dataclass
    class Point(ng.Pytree):
        a: ng.Data[int]
        b: ng.Static[jax.Array | None] = None
        c: int = 3
        d: jax.Array = dataclasses.field(default_factory=lambda: jnp.zeros(1))

    leaves = jax.tree.leaves(Point(1))  # flax 0.12.8: [1, Array([0.], dtype=float32)]
    assert leaves[0] == 1 and len(leaves) == 2
    with pytest.raises(ValueError, match=r"static attribute 'Point\.b'"):
        Point(1, jnp.ones(1))

    @dataclasses.dataclass
    class Plain(ng.Module):
        a: ng.Data[int]
        s: ng.Static[str] = "x"

    assert jax.tree.leaves(Plain(2)) == [2]


def test_an_annotation_and_a_field_that_disagree_are_refused():
    with pytest.raises(ValueError, match=r"'Conflict.x'(.|\n)*Fix: x: SomeType = nnx.static"):

        class Conflict(ng.Module):
            x: ng.Data[int] = ng.static(default=1)


def test_flax_0_10_field_marks_static_or_leaves_the_usual_rule():
    @ng.dataclass
    class Point(ng.Module):
        a: int
        w: jax.Array
        c: ng.Static[int]
        d: int = ng.field(static=True, default=4)
        e: int = ng.static(default=5)
        f: int = ng.field(default=6)

    point = Point(1, jnp.ones(1), 3)
    assert list(ng.state(point)) == ["w"]  # flax 0.10.7: only w is state
    # the metadata 0.10.7 gave its fields
    assert {f.name: f.metadata.get("static") for f in dataclasses.fields(Point)} == {
        "a": None,
        "w": None,
        "c": None,
        "d": True,
        "e": True,
        "f": False,
    }
    assert dict(ng.field(static=True, metadata={"x": 1}).metadata) == {"x": 1, "static": True}
    with pytest.raises(ValueError, match=r"nnx.field\(static=True\)(.|\n)*Fix: nnx.field"):
        ng.field(static=True, metadata={"static": False})


def test_data_and_static_refuse_a_value_with_field_options_and_a_static_metadata_key():
    # flax 0.12.8: TypeError, then ValueError for each
    with pytest.raises(TypeError, match=r"value or dataclass field options(.|\n)*Fix: nnx.data"):
        ng.data(1, default=2)
    with pytest.raises(ValueError, match=r"'static' key(.|\n)*Fix: nnx.static\(metadata="):
        ng.static(default=1, metadata={"static": True})
    with pytest.raises(ValueError, match=r"'Bad.x': 'yes'(.|\n)*Fix: x: SomeType"):

        class Bad(ng.Module):
            x: int = dataclasses.field(default=1, metadata={"static": "yes"})
