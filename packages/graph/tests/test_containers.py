"""nnx.List and nnx.Dict: 0.12's containers, as graph state like plain lists and dicts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Block(ng.Module):
    def __init__(self, scale: float) -> None:
        self.w = Param(jnp.full(2, scale))


class Model(ng.Module):
    def __init__(self) -> None:
        self.blocks = ng.List([Block(1.0), Block(2.0)])
        self.heads = ng.Dict(a=Param(jnp.ones(1)), size=3)


def test_list_behaves_like_a_list():
    items = ng.List([1, 2, 3])
    items.append(4)
    items.insert(0, 0)
    assert list(items) == [0, 1, 2, 3, 4] and items[-1] == 4 and items[1:3] == [1, 2]
    del items[1]
    items[0] = 9
    items[1:3] = [7]
    assert items == [9, 7, 4] and len(items) == 3
    assert items.pop() == 4 and items.index(7) == 1
    items.extend([5, 6])
    items.reverse()
    assert items == [6, 5, 7, 9]
    with pytest.raises(IndexError, match=r"nnx.List index 4 out of range for a List of 4"):
        items[4]


def test_dict_behaves_like_a_dict_with_attribute_access():
    heads = ng.Dict({"a": 1}, b=2)
    heads["c"] = 3
    heads.d = 4
    assert heads.a == heads["a"] == 1 and heads["d"] == 4
    assert list(heads) == ["a", "b", "c", "d"] and dict(heads.items()) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "d": 4,
    }
    del heads["b"]
    assert heads.pop("c") == 3 and heads == {"a": 1, "d": 4} and len(heads) == 2
    heads[(1, 2)] = 5  # any hashable key, as for dict
    assert heads[(1, 2)] == 5


def test_split_merge_paths_and_sharing_as_for_plain_containers():
    model = Model()
    model.blocks.append(model.blocks[0])  # shared
    graphdef, state = ng.split(model)
    assert sorted(state.flat_dict(), key=str) == [
        ("blocks", 0, "w"),
        ("blocks", 1, "w"),
        ("heads", "a"),
    ]
    copy = ng.merge(graphdef, state, copy=True)
    assert type(copy.blocks) is ng.List and type(copy.heads) is ng.Dict
    assert copy.blocks[2] is copy.blocks[0] and copy.heads.size == 3
    np.testing.assert_array_equal(copy.blocks[1].w[...], jnp.full(2, 2.0))


def test_filters_and_paths_reach_into_the_containers():
    model = Model()
    params = ng.state(model, ng.PathContains("blocks")).flat_dict()
    assert sorted(params) == [("blocks", 0, "w"), ("blocks", 1, "w")]


def test_containers_are_jax_pytrees():
    model = Model()
    assert len(jax.tree.leaves(model)) == 3
    doubled = jax.tree.map(lambda x: x * 2, model)
    assert type(doubled.blocks) is ng.List and len(doubled.blocks) == 2
    np.testing.assert_array_equal(doubled.blocks[1].w[...], jnp.full(2, 4.0))


def test_every_edit_moves_the_structure_epoch_once_watched():
    model = Model()
    ng.split(model)  # cached: the containers are watched from now on
    edits = [
        lambda m: m.blocks.append(Block(3.0)),
        lambda m: m.blocks.insert(0, Block(4.0)),
        lambda m: m.blocks.__setitem__(0, Block(5.0)),
        lambda m: m.blocks.__delitem__(0),
        lambda m: m.heads.__setitem__("b", Param(jnp.zeros(1))),
        lambda m: m.heads.__delitem__("b"),
        lambda m: setattr(m.heads, "size", 4),
    ]
    for edit in edits:
        ng.split(model)
        epoch = ng.structure_epoch()
        edit(model)
        assert ng.structure_epoch() != epoch


def test_edits_from_inside_a_transform_they_were_not_passed_to_are_refused():
    model = Model()

    @jax.jit
    def grow(x):
        model.blocks.append(Block(3.0))
        return x

    with pytest.raises(ng.TraceContextError, match=r"(?s)Cannot set List.2.*pass the object in"):
        grow(jnp.ones(1))
    assert len(model.blocks) == 2


def test_plain_containers_0_10_and_nnx_containers_0_12_give_the_same_state():
    class Plain(ng.Module):
        def __init__(self) -> None:
            self.blocks = [Block(1.0), Block(2.0)]
            self.heads = {"a": Param(jnp.ones(1))}

    old, new = ng.state(Plain()), ng.state(Model())
    assert sorted(old.flat_dict(), key=str) == sorted(new.flat_dict(), key=str)
    for path, leaf in old.flat_dict().items():
        np.testing.assert_array_equal(leaf[...], new.flat_dict()[path][...])


class EpochAtWrite:
    """A data descriptor that records the structure epoch at the moment of each write."""

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> object:
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj: object, value: object) -> None:
        self.seen.append(ng.structure_epoch())
        obj.__dict__[self.name] = value


def test_an_edit_moves_the_epoch_before_and_after_its_write():
    # Before: a walk in another thread that reads the new value also reads a moved epoch,
    # so check mode can tell that race from a stale entry. After: a walk that ran during
    # the write is dropped.
    seen: list[int] = []

    class Flagged(ng.Module):
        flag = EpochAtWrite(seen)

        def __init__(self) -> None:
            self.flag = False
            self.w = Param(jnp.ones(2))

    model = Flagged()
    ng.split(model)  # watched from now on
    before = ng.structure_epoch()
    seen.clear()
    model.flag = True
    assert len(seen) == 1 and seen[0] > before
    assert ng.structure_epoch() > seen[0]
