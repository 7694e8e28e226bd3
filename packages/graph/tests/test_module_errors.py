"""LayerInputError is located by the Module __call__ hook: each enclosing module prepends
the attribute path that holds the layer that raised it."""

import inspect

import pytest

import nnx_graph as ng
from nnx_graph import LayerInputError, Module, Object


class Leaf(Module):
    def __init__(self, size=3):
        self.size = size

    def __call__(self, x):
        if len(x) != self.size:
            raise LayerInputError(
                self,
                f"expected {self.size} items, got {len(x)}",
                expected="a list as long as size",
                fix=f"leaf([0] * {self.size})",
            )
        return sum(x)


class Parent(Module):
    def __init__(self):
        self.child = Leaf()

    def __call__(self, x):
        return self.child(x)


class Containers(Module):
    def __init__(self):
        self.blocks = [Leaf(1), {"inner": Leaf(2)}]

    def __call__(self, x):
        return self.blocks[1]["inner"](x)


class Grandparent(Module):
    def __init__(self):
        self.parent = Parent()

    def __call__(self, x):
        return self.parent(x)


def test_unlocated_error_names_the_layer_type():
    with pytest.raises(
        LayerInputError,
        match=r"^Leaf: expected 3 items, got 2\nExpected: a list as long as size\n"
        r"Fix: leaf\(\[0\] \* 3\)$",
    ):
        Leaf()([1, 2])


def test_parent_prepends_attribute_path():
    with pytest.raises(LayerInputError, match=r"^model\.child \(Leaf\): expected 3 items"):
        Parent()([1])


def test_paths_compose_through_nested_modules():
    with pytest.raises(LayerInputError, match=r"^model\.parent\.child \(Leaf\):") as info:
        Grandparent()([1])
    assert info.value.path == ("parent", "child")


def test_lists_and_dicts_are_searched():
    with pytest.raises(LayerInputError, match=r"^model\.blocks\[1\]\.inner \(Leaf\):"):
        Containers()([1, 2, 3])


def test_grandchild_called_directly_gets_its_full_path():
    class Skipper(Module):
        def __init__(self):
            self.parent = Parent()

        def __call__(self, x):
            return self.parent.child(x)  # Parent.__call__ is never entered

    with pytest.raises(LayerInputError, match=r"^model\.parent\.child \(Leaf\):"):
        Skipper()([1])


def test_layer_passed_as_argument_is_left_unlocated():
    class Applier(Module):
        def __call__(self, layer, x):
            return layer(x)

    with pytest.raises(LayerInputError, match=r"^Leaf: expected 3 items"):
        Applier()(Leaf(), [1])


def test_super_call_does_not_duplicate_the_path():
    class Special(Leaf):
        def __call__(self, x):
            return super().__call__(x) + 1

    class Holder(Module):
        def __init__(self):
            self.special = Special()

        def __call__(self, x):
            return self.special(x)

    with pytest.raises(LayerInputError, match=r"^model\.special \(Special\): expected 3"):
        Holder()([1])


def test_shared_layer_is_named_by_its_first_path():
    class Shared(Module):
        def __init__(self):
            leaf = Leaf()
            self.a = leaf
            self.b = [leaf]

        def __call__(self, x):
            return self.b[0](x)

    with pytest.raises(LayerInputError, match=r"^model\.a \(Leaf\):"):
        Shared()([1])


def test_cycles_do_not_hang_the_search():
    class Cyclic(Module):
        def __init__(self):
            self.me = self
            self.nodes = [Object()]
            self.nodes[0].back = self
            self.leaf = Leaf()

        def __call__(self, x):
            return self.leaf(x)

    with pytest.raises(LayerInputError, match=r"^model\.leaf \(Leaf\):"):
        Cyclic()([1])


def test_other_errors_pass_through_untouched():
    class Broken(Module):
        def __call__(self, x):
            raise KeyError(x)

    class Outer(Module):
        def __init__(self):
            self.broken = Broken()

        def __call__(self, x):
            return self.broken(x)

    with pytest.raises(KeyError) as info:
        Outer()("k")
    assert info.value.args == ("k",)


def test_success_path_returns_the_value_and_keeps_the_signature():
    assert Parent()([1, 2, 3]) == 6
    assert list(inspect.signature(Leaf.__call__).parameters) == ["self", "x"]
    assert Leaf.__call__.__name__ == "__call__"
    assert Leaf.__call__.__wrapped__.__qualname__ == "Leaf.__call__"


def test_is_a_value_error():
    assert issubclass(LayerInputError, ValueError)


def test_sow_and_set_attributes_raise_value_errors_as_flax_does():
    class Block(ng.Module):
        def __init__(self):
            self.h = 1

    with pytest.raises(ValueError, match=r"found attribute 'h' holding a int") as info:
        Block().sow(ng.Variable, "h", 1)
    assert isinstance(info.value, TypeError)  # the type it had here before
    with pytest.raises(ValueError, match=r"'unknown'") as missing:
        Block().set_attributes(unknown=True)
    assert isinstance(missing.value, AttributeError)
