"""Object and Module: attributes are graph edges; Variables stay Variables."""

import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Count(ng.Variable):
    pass


class Intermediate(ng.Variable):
    pass


class Counter(ng.Module):
    def __init__(self):
        self.count = Count(jnp.array(0))

    def __call__(self):
        self.count += 1


class Leaf(ng.Module):
    def __init__(self, rate=0.1):
        self.w = Param(jnp.ones(2))
        self.deterministic = False
        self.use_running_average = False
        self.rate = rate


class Tree(ng.Module):
    def __init__(self):
        self.left = Leaf()
        self.right = Leaf()
        self.blocks = [Leaf(), {"inner": Leaf()}]


# -- assignment rules ------------------------------------------------------------------


def test_augmented_assignment_keeps_the_variable():
    counter = Counter()
    box = counter.count
    counter()
    counter()
    assert counter.count is box and type(counter.count) is Count
    assert int(counter.count.value) == 2


def test_assigning_an_array_writes_into_the_variable():
    leaf = Leaf()
    box = leaf.w
    leaf.w = jnp.zeros(2)
    assert leaf.w is box
    np.testing.assert_array_equal(box.value, jnp.zeros(2))


def test_assigning_a_variable_replaces_it():
    leaf = Leaf()
    old = leaf.w
    new = Count(jnp.full(2, 3.0))
    leaf.w = new
    assert leaf.w is new and type(leaf.w) is Count
    np.testing.assert_array_equal(old.value, jnp.ones(2))  # the old box is untouched


def test_assigning_a_module_or_none_over_a_variable_replaces_it():
    # Model surgery: a Module or None is never a Variable's value.
    leaf = Leaf()
    old = leaf.w
    leaf.w = Counter()
    assert isinstance(leaf.w, Counter)
    np.testing.assert_array_equal(old.value, jnp.ones(2))
    other = Leaf()
    other.w = None
    assert other.w is None
    assert ng.graphdef(other) != ng.graphdef(Leaf())


@pytest.mark.parametrize("value", [[1.0, 2.0], (1.0, 2.0), {"a": 1.0}])
def test_assigning_a_container_over_an_array_variable_is_refused(value):
    leaf = Leaf()
    box = leaf.w
    with pytest.raises(
        TypeError,
        match=r"(?s)Cannot assign a \w+ to Leaf\.w: it holds a Param.*"
        r"Leaf\.w: Param\(Array\(shape=\(2,\), dtype=float32\)\); assigned: \w+ of \d.*"
        r"Fix: module\.w = jnp\.asarray\(value\)",
    ):
        leaf.w = value
    assert leaf.w is box  # unchanged
    np.testing.assert_array_equal(box.value, jnp.ones(2))


def test_assigning_a_list_of_variables_over_a_variable_is_refused():
    leaf = Leaf()
    box = leaf.w
    with pytest.raises(
        TypeError,
        match=r"(?s)Cannot assign a list holding Variables or Objects to Leaf\.w: "
        r"it holds a Param.*Fix: del module\.w; module\.w = \[\.\.\.\]",
    ):
        leaf.w = [Param(jnp.ones(1)), Param(jnp.zeros(1))]
    assert leaf.w is box
    del leaf.w  # the fix: remove the Param first, then the list is a plain attribute
    leaf.w = [Param(jnp.ones(1)), Param(jnp.zeros(1))]
    assert [type(p) for p in leaf.w] == [Param, Param]


def test_numpy_arrays_and_scalars_still_write_the_value():
    leaf = Leaf()
    box = leaf.w
    leaf.w = np.zeros(2, np.float32)
    assert leaf.w is box
    np.testing.assert_array_equal(box.value, np.zeros(2))
    leaf.w = 3.0
    assert leaf.w is box and box.value == 3.0


def test_a_variable_holding_a_container_takes_containers():
    # A KV cache dict or sown tuples: the container is the Variable's kind of value.
    counter = Counter()
    counter.cache = Intermediate({"k": jnp.zeros(2)})
    box = counter.cache
    counter.cache = {"k": jnp.ones(2), "v": jnp.ones(2)}
    assert counter.cache is box and sorted(box.value) == ["k", "v"]
    counter.lazy = Intermediate(None)  # a cache filled on first use
    counter.lazy = (jnp.ones(1),)
    assert type(counter.lazy) is Intermediate and len(counter.lazy.value) == 1


def test_plain_attributes_are_replaced():
    leaf = Leaf()
    leaf.rate = 0.5
    assert leaf.rate == 0.5
    del leaf.rate
    assert not hasattr(leaf, "rate")


def test_attribute_order_is_deterministic_regardless_of_assignment_order():
    class A(ng.Module):
        def __init__(self, reverse):
            names = ["zeta", "alpha", "mid"]
            for name in reversed(names) if reverse else names:
                setattr(self, name, Param(jnp.zeros(1)))

    assert ng.graphdef(A(False)) == ng.graphdef(A(True))
    assert list(ng.state(A(True))) == ["alpha", "mid", "zeta"]
    assert [p for p, _ in ng.iter_graph(A(False))] == [("alpha",), ("mid",), ("zeta",), ()]


# -- traversal -------------------------------------------------------------------------


def test_iter_graph_visits_shared_nodes_once_children_first():
    tree = Tree()
    tree.alias = tree.left  # a second path to the same module
    tree.left.tied = tree.right.w  # a shared Variable
    visited = list(ng.iter_graph(tree))
    nodes = [node for _, node in visited]
    assert sum(node is tree.left for node in nodes) == 1
    assert sum(node is tree.right.w for node in nodes) == 1
    assert visited[-1] == ((), tree)
    paths = dict((id(node), path) for path, node in visited if not isinstance(node, str | float))
    assert paths[id(tree.left)] == ("alias",)  # sorted order: 'alias' comes first
    assert paths[id(tree.right.w)] == ("alias", "tied")
    position = {id(node): i for i, (_, node) in enumerate(visited)}
    assert position[id(tree.left.w)] < position[id(tree.left)]


def test_iter_graph_handles_cycles():
    a, b = ng.Object(), ng.Object()
    a.other, b.other = b, a
    a.v = Param(jnp.ones(1))
    visited = [path for path, _ in ng.iter_graph(a)]
    assert visited.count(()) == 1
    assert ("other",) in visited and ("v",) in visited


def test_iter_modules_and_iter_children():
    tree = Tree()
    modules = list(tree.iter_modules())
    assert [path for path, _ in modules] == [
        ("blocks", 0),
        ("blocks", 1, "inner"),
        ("left",),
        ("right",),
        (),
    ]
    assert [name for name, _ in tree.iter_children()] == ["left", "right"]
    # Flax NNX 0.12.8: the method yields the Objects and Variables held directly.
    counter = Counter()
    assert [(name, type(child)) for name, child in counter.iter_children()] == [
        ("count", type(counter.count))
    ]


# -- train / eval / set_attributes -----------------------------------------------------


def test_train_and_eval_switch_every_submodule():
    tree = Tree().eval()
    leaves = [m for _, m in tree.iter_modules() if isinstance(m, Leaf)]
    assert len(leaves) == 4
    assert all(m.deterministic and m.use_running_average for m in leaves)
    assert tree.train() is tree
    assert not any(m.deterministic or m.use_running_average for m in leaves)


def test_set_attributes_with_filter_and_eval_overrides():
    tree = Tree()
    tree.set_attributes(lambda path, _: path == ("left",), rate=0.9)
    assert tree.left.rate == 0.9 and tree.right.rate == 0.1
    tree.eval(rate=0.0)
    assert all(m.rate == 0.0 for _, m in tree.iter_modules() if isinstance(m, Leaf))


def test_set_attributes_unknown_name_names_it_and_the_fix():
    tree = Tree()
    before = ng.graphdef(tree)
    with pytest.raises(AttributeError, match=r"(?s)'rat'.*Leaf, Tree.*raise_if_not_found=False"):
        tree.set_attributes(rat=0.5)
    assert ng.graphdef(tree) == before
    tree.set_attributes(rat=0.5, raise_if_not_found=False)
    assert ng.graphdef(tree) == before


# -- sow -------------------------------------------------------------------------------


class Sower(ng.Module):
    def __call__(self, x):
        self.sow(Intermediate, "activations", x * 2)
        return x


def test_sow_accumulates_a_tuple_and_pop_removes_it():
    model = Sower()
    model(jnp.ones(1))
    model(jnp.zeros(1))
    assert type(model.activations) is Intermediate
    assert len(model.activations.value) == 2
    popped = ng.pop(model, Intermediate)
    first, second = popped["activations"].value
    np.testing.assert_array_equal(first, [2.0])
    np.testing.assert_array_equal(second, [0.0])
    assert not hasattr(model, "activations")
    assert list(ng.state(model)) == []


def test_sow_with_custom_reduce():
    model = ng.Module()
    for x in (1.0, 2.0, 3.0):
        model.sow(
            Intermediate,
            "total",
            jnp.array(x),
            reduce_fn=lambda a, b: a + b,
            init_fn=lambda: jnp.array(0.0),
        )
    assert float(model.total.value) == 6.0


def test_sow_over_a_different_attribute_names_it_and_the_fix():
    model = Sower()
    model.activations = Param(jnp.ones(1))
    with pytest.raises(
        TypeError, match=r"(?s)'activations' holding a Param.*del module.activations"
    ):
        model(jnp.ones(1))
    np.testing.assert_array_equal(model.activations.value, jnp.ones(1))


def test_pop_several_filters_returns_one_state_each():
    model = ng.Module()
    model.a = Intermediate(jnp.ones(1))
    model.b = Count(jnp.ones(1))
    model.c = Param(jnp.ones(1))
    inter, counts = ng.pop(model, Intermediate, Count)
    assert list(inter) == ["a"] and list(counts) == ["b"]
    assert list(vars(model)) == ["c"]


def test_pop_removes_a_shared_variable_everywhere():
    model = ng.Module()
    model.sub = ng.Module()
    shared = Intermediate(jnp.ones(1))
    model.a = shared
    model.sub.b = shared
    popped = ng.pop(model, Intermediate)
    assert list(popped.flat_dict()) == [("a",)]
    assert "a" not in vars(model) and "b" not in vars(model.sub)


def test_pop_from_a_dict_entry():
    model = ng.Module()
    model.store = {"x": Intermediate(jnp.ones(1)), "keep": Param(jnp.ones(1))}
    popped = ng.pop(model, Intermediate)
    assert list(popped.flat_dict()) == [("store", "x")]
    assert list(model.store) == ["keep"]


def test_pop_from_a_list_is_refused_and_changes_nothing():
    model = ng.Module()
    model.a = Intermediate(jnp.ones(1))
    model.items = [Intermediate(jnp.zeros(1))]
    with pytest.raises(
        TypeError, match=r"(?s)cannot remove model.items\[0\].*list.*in attributes or dicts"
    ):
        ng.pop(model, Intermediate)
    assert "a" in vars(model) and len(model.items) == 1


def test_pop_without_filters_gives_the_fix():
    with pytest.raises(TypeError, match=r"nnx.pop\(model, nnx.Intermediate\)"):
        ng.pop(ng.Module())
