"""nnx.is_data / nnx.has_data / nnx.check_pytree and the checks on static attributes.

Expected values are what flax 0.12.8 printed for the same calls.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Leaf(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (jnp.ones(2), True),
        (np.ones(2), True),
        (jnp.float32(1), True),
        (jax.random.key(0), True),
        (ng.Variable(1), True),
        (Leaf(), True),
        (ng.List([1]), True),
        (ng.Dict(a=1), True),
        # flax 0.12.8: containers, scalars and GraphDefs are not data by themselves
        (42, False),
        (1.0, False),
        (True, False),
        ("hello", False),
        (None, False),
        (np.float32(1), False),
        ([jnp.ones(1)], False),
        ((jnp.ones(1),), False),
        ({"a": jnp.ones(1)}, False),
        (jax.ShapeDtypeStruct((1,), jnp.float32), False),
        (ng.data(1), False),
        (ng.Module, False),
    ],
)
def test_is_data_as_flax_0_12(value, expected):
    assert ng.is_data(value) is expected


def test_is_data_for_a_registered_type():
    @ng.register_data_type
    class Config:
        pass

    assert ng.is_data(Config())


def test_has_data_lists_the_data_leaves_without_looking_into_nodes():
    x, leaf, param = jnp.ones(1), Leaf(), ng.Variable(2)
    found = ng.has_data({"a": [x, (leaf, 2)], "b": [1, "s", param]})
    assert [type(v) for v in found] == [type(x), Leaf, ng.Variable]
    assert found[1] is leaf and found[2] is param
    assert ng.has_data(3) == [] and ng.has_data(None) == [] and ng.has_data("abc") == []
    assert ng.has_data(x)[0] is x
    twice = ng.has_data([leaf, leaf])  # flax 0.12.8 lists a shared value twice
    assert len(twice) == 2 and twice[0] is twice[1] is leaf


def test_has_data_survives_cycles_and_unsortable_dict_keys():
    x = jnp.ones(1)
    cyclic: list = [x]
    cyclic.append(cyclic)
    assert len(ng.has_data(cyclic)) == 1
    found = ng.has_data({1: [x, 2], "b": (ng.Variable(3), None)})
    assert [type(v).__name__ for v in found] == ["ArrayImpl", "Variable"]


def test_check_pytree_accepts_objects_and_refuses_anything_else():
    assert ng.check_pytree(Leaf()) is None
    assert ng.check_pytree(ng.List([1])) is None
    for value in (3, [1], ng.Variable(1)):
        with pytest.raises(TypeError, match="expected a Pytree"):
            ng.check_pytree(value)


def test_check_pytree_finds_data_written_around_setattr_into_a_static_attribute():
    class Config(ng.Module):
        size: ng.Static[object]

        def __init__(self):
            self.size = 1

    config = Config()
    vars(config)["size"] = jnp.ones(1)
    with pytest.raises(ValueError, match=r"static attribute 'Config.size'(.|\n)*Fix: self.size"):
        ng.check_pytree(config)
    vars(config)["size"] = [ng.data(1)]
    with pytest.raises(ValueError, match=r"nnx.data\(...\) inside the list(.|\n)*Fix: self.size"):
        ng.check_pytree(config)


def test_static_marks_refuse_data_on_assignment_as_flax_0_12():
    class Marked(ng.Module):
        def __init__(self, value):
            self.x = ng.static(value)

    with pytest.raises(ValueError, match=r"nnx.static\(...\) on attribute 'Marked.x'"):
        Marked(jnp.ones(2))
    with pytest.raises(ValueError, match=r"Marked.x: list holding Variable(.|\n)*nnx.data"):
        Marked([ng.Variable(1)])
    assert Marked((1, 2)).x == (1, 2)

    class Annotated(ng.Module):
        ids: ng.Static[tuple]

        def __init__(self):
            self.ids = (1, 2)

    model = Annotated()
    with pytest.raises(ValueError, match=r"assign data to static attribute 'Annotated.ids'"):
        model.ids = jnp.ones(1)
    assert model.ids == (1, 2)  # validated before the write


def test_marks_nested_in_a_container_are_refused():
    class Nested(ng.Module):
        def __init__(self, value):
            self.x = value

    with pytest.raises(ValueError, match=r"nnx.data\(...\) inside the list"):
        Nested([ng.data(1)])
    with pytest.raises(ValueError, match=r"nnx.static\(...\) inside the dict"):
        Nested({"a": ng.static(1)})
    with pytest.raises(ValueError, match=r"nnx.data\(...\) inside the tuple"):
        Nested(ng.data((ng.data(1),)))
