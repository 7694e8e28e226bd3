"""Views and graph helpers of flax 0.12: view, with_attributes, view_info, iter_modules,
find_duplicates, PathContains(exact=)."""

import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Drop(ng.Module):
    def __init__(self):
        self.deterministic = False
        self.w = ng.Variable(jnp.ones(2))


class Norm(ng.Module):
    def __init__(self):
        self.use_running_average = False
        self.mean = ng.Variable(jnp.zeros(2))


class Block(ng.Module):
    def __init__(self):
        self.drop = Drop()
        self.norm = Norm()


class Model(ng.Module):
    def __init__(self):
        self.b = Block()
        self.a = Block()
        self.tied = self.a.drop


def test_a_view_shares_variables_and_leaves_the_original_mode_alone():
    model = Model()
    evaluated = ng.view(model, deterministic=True, use_running_average=True)
    assert evaluated is not model and evaluated.a is not model.a
    assert evaluated.a.drop.deterministic and evaluated.b.norm.use_running_average
    assert not model.a.drop.deterministic and not model.b.norm.use_running_average
    assert evaluated.a.drop.w is model.a.drop.w  # training one trains the other
    assert evaluated.tied is evaluated.a.drop  # sharing kept inside the view


def test_with_attributes_restricts_by_filter_and_refuses_unknown_names():
    model = Model()
    only_a = ng.with_attributes(model, only=ng.PathContains("a"), deterministic=True)
    assert only_a.a.drop.deterministic and not only_a.b.drop.deterministic
    with pytest.raises(AttributeError, match=r"'deterministc'"):
        ng.view(model, deterministc=True)
    same = ng.view(model, raise_if_not_found=False, deterministc=True)
    assert not same.a.drop.deterministic


def test_view_info_lists_the_mode_attributes_by_kind():
    text = ng.view_info(Model())
    assert text == (
        "Drop:\n  deterministic: bool = False\nNorm:\n  use_running_average: bool = False"
    )


def test_iter_modules_yields_children_before_parents_once_each_as_flax_0_12():
    paths = [path for path, _ in ng.iter_modules(Model())]
    assert paths == [
        ("a", "drop"),
        ("a", "norm"),
        ("a",),
        ("b", "drop"),
        ("b", "norm"),
        ("b",),
        (),
    ]


def test_find_duplicates_groups_the_paths_of_shared_nodes():
    model = Model()
    assert ng.find_duplicates(model) == [[("a", "drop"), ("tied",)]]
    assert ng.find_duplicates(Block()) == []
    assert ng.find_duplicates(model, only=Norm) == []


def test_path_contains_matches_substrings_when_not_exact():
    model = Model()
    assert ng.state(model, ng.PathContains("dro")).flat_dict() == {}
    inexact = ng.state(model, ng.PathContains("dro", exact=False)).flat_dict()
    assert set(inexact) == {("a", "drop", "w"), ("b", "drop", "w")}
    assert ng.PathContains("x", exact=False) != ng.PathContains("x")


class Cached(ng.Module):
    """A module with flax's ``set_view`` hook, which takes keywords it has no attribute for."""

    def __init__(self):
        self.decode = False
        self.extra = 0
        self.cache = None
        self.calls = []

    def set_view(self, decode=None, max_length=None):
        self.calls.append((decode, max_length))
        if decode is not None:
            self.decode = decode
        if max_length is not None:
            self.cache = ng.Variable(jnp.zeros(max_length))


def test_view_hands_a_set_view_hook_the_keywords_it_takes_and_sets_the_other_attributes():
    model = Cached()
    viewed = ng.view(model, decode=True, max_length=3, extra=1)
    assert viewed.calls == [(True, 3)] and viewed.decode and viewed.extra == 1
    assert viewed.cache.value.shape == (3,) and model.cache is None and not model.decode


def test_view_refuses_a_keyword_neither_a_hook_nor_an_attribute_takes():
    with pytest.raises(AttributeError, match=r"(?s)'batch_size'.*set_view argument.*Fix: check"):
        ng.view(Cached(), batch_size=2)
    assert ng.view(Cached(), only=Drop, raise_if_not_found=False, max_length=2).cache is None


def test_with_attributes_does_not_call_set_view():
    with pytest.raises(AttributeError, match=r"'max_length'"):
        ng.with_attributes(Cached(), max_length=3)


class Untied(ng.Module):
    def __init__(self):
        self.a = Block()
        self.b = Block()


VIEW_FUNCTIONS = [
    ("nnx.view", lambda node, **kw: ng.view(node, deterministic=True, **kw)),
    ("nnx.with_attributes", lambda node, **kw: ng.with_attributes(node, deterministic=True, **kw)),
    ("nnx.view_info", lambda node, **kw: ng.view_info(node, **kw)),
    ("nnx.iter_modules", lambda node, **kw: list(ng.iter_modules(node, **kw))),
]


@pytest.mark.parametrize(("op", "fun"), VIEW_FUNCTIONS, ids=[op for op, _ in VIEW_FUNCTIONS])
def test_tree_mode_refuses_a_shared_module_naming_both_paths(op, fun):
    with pytest.raises(
        ValueError, match=rf"(?s){op}: tree mode.*model\.a\.drop and model\.tied.*graph=True"
    ):
        fun(Model(), graph=False)
    fun(Model(), graph=True)  # graph mode keeps the sharing
    with ng.set_graph_mode(False), pytest.raises(ValueError, match=rf"{op}: tree mode"):
        fun(Model())


@pytest.mark.parametrize(("op", "fun"), VIEW_FUNCTIONS, ids=[op for op, _ in VIEW_FUNCTIONS])
def test_tree_mode_gives_what_graph_mode_gives_for_a_tree(op, fun):
    in_tree, in_graph = fun(Untied(), graph=False), fun(Untied())
    if op == "nnx.iter_modules":
        assert [p for p, _ in in_tree] == [p for p, _ in in_graph]
    elif op == "nnx.view_info":
        assert in_tree == in_graph
    else:
        model = Untied()
        copy = fun(model, graph=False)
        assert copy.a.drop.deterministic and not model.a.drop.deterministic
        assert copy.a.drop.w is model.a.drop.w
