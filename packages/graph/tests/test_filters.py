"""Filters: every accepted spelling, the combinators, and wrong types."""

import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Special(Param):
    pass


class Stat(ng.Variable):
    pass


PARAM = Param(jnp.ones(1), tag="enc")
SPECIAL = Special(jnp.ones(1))
STAT = Stat(jnp.ones(1))


def matches(filter_, path, value):
    return ng.to_predicate(filter_)(path, value)


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        (Param, [True, True, False]),  # a kind matches its subclasses
        (Special, [False, True, False]),
        (ng.OfType(Stat), [False, False, True]),
        ("enc", [True, False, False]),  # a string is a tag
        (ng.WithTag("enc"), [True, False, False]),
        ((Special, Stat), [False, True, True]),  # tuples and lists mean any
        ([Stat], [False, False, True]),
        (..., [True, True, True]),
        (True, [True, True, True]),
        (ng.Everything(), [True, True, True]),
        (None, [False, False, False]),
        (False, [False, False, False]),
        (ng.Nothing(), [False, False, False]),
        (ng.Any(Special, "enc"), [True, True, False]),
        (ng.All(Param, ng.Not(Special)), [True, False, False]),
        (ng.Not(Param), [False, False, True]),
        (lambda path, value: path[-1] == "b", [False, True, False]),
        (ng.PathContains("b"), [False, True, False]),
    ],
)
def test_filter_spellings(filter_, expected):
    values = [(("a",), PARAM), (("b",), SPECIAL), (("c",), STAT)]
    assert [matches(filter_, p, v) for p, v in values] == expected


def test_filters_match_variable_states_like_variables():
    for filter_ in (Param, "enc", ng.PathContains("a"), ng.All(Param, "enc")):
        assert matches(filter_, ("a",), PARAM.to_state()) == matches(filter_, ("a",), PARAM)
    assert not matches(Param, ("a",), STAT.to_state())


def test_path_contains_matches_any_key_including_indices():
    assert matches(ng.PathContains(0), ("layers", 0, "w"), PARAM)
    assert not matches(ng.PathContains("w"), ("layers", 0, "kernel"), PARAM)


def test_filters_are_hashable_and_compare_by_value():
    assert ng.OfType(Param) == ng.OfType(Param) and ng.OfType(Param) != ng.OfType(Stat)
    assert ng.All(Param, "x") == ng.All(Param, "x") and ng.All(Param) != ng.Any(Param)
    assert len({ng.PathContains("a"), ng.PathContains("a"), ng.WithTag("a")}) == 2
    assert ng.Everything() == ng.Everything() and ng.Nothing() != ng.Everything()
    assert repr(ng.OfType(Param)) == "OfType(Param)"
    assert repr(ng.All(ng.OfType(Param), ng.Not("x"))) == "All(OfType(Param), Not('x'))"


@pytest.mark.parametrize(
    "bad", [3, 2.5, b"param", object()], ids=["int", "float", "bytes", "object"]
)
def test_filters_of_a_wrong_type_are_named_with_the_fix(bad):
    with pytest.raises(
        TypeError, match=r"(?s)Invalid filter .* of type .*nnx.split\(model, nnx.Param, \.\.\.\)"
    ):
        ng.to_predicate(bad)


def test_wrong_filter_inside_a_combinator_or_split_changes_nothing():
    model = ng.Module()
    model.w = Param(jnp.ones(1))
    with pytest.raises(TypeError, match=r"Invalid filter 3 of type int"):
        ng.split(model, Param, 3)
    with pytest.raises(TypeError, match=r"Invalid filter 3 of type int"):
        ng.Any(Param, 3)
    with pytest.raises(TypeError, match=r"Invalid filter 3 of type int"):
        ng.state(model, (Param, 3))
    with pytest.raises(TypeError, match=r"Invalid filter 3 of type int"):
        ng.pop(model, 3)
    assert type(model.w) is Param


def test_split_first_matching_filter_wins():
    model = ng.Module()
    model.a = Special(jnp.ones(1))
    model.b = Param(jnp.ones(1))
    model.c = Stat(jnp.ones(1))
    _, special, params, rest = ng.split(model, Special, Param, ...)
    assert list(special) == ["a"] and list(params) == ["b"] and list(rest) == ["c"]
    _, params, special, rest = ng.split(model, Param, Special, ...)
    assert list(params) == ["a", "b"] and list(special) == [] and list(rest) == ["c"]


def test_state_with_filters_need_not_be_exhaustive():
    model = ng.Module()
    model.a = Param(jnp.ones(1))
    model.c = Stat(jnp.ones(1))
    params = ng.state(model, Param)
    assert list(params) == ["a"]
    params, nothing = ng.state(model, Param, None)
    assert list(nothing) == []


class Tagged(ng.Module):
    def __init__(self):
        self.kernel = Param(jnp.ones(2))
        self.frozen = Param(jnp.ones(2), tag="pretrained")


@pytest.mark.parametrize(
    ("filter_", "note"),
    [
        ("kernal", r"closest name: model\.kernel \(a string filter selects by tag"),
        (ng.PathContains("kernal"), r"closest name: model\.kernel"),
        ("kernel", r"model\.kernel is named 'kernel', but a string filter selects .* by .* tag"),
    ],
)
def test_split_warns_when_a_name_filter_matches_nothing_but_a_name_is_close(filter_, note):
    with pytest.warns(
        ng.FilterWarning,
        match=r"(?s)nnx\.split: the filter .* matches no value.*"
        + note
        + r".*Fix: nnx\.split\(model, nnx\.PathContains\('kernel'\), \.\.\.\)",
    ) as record:
        _, selected, rest = ng.split(Tagged(), filter_, ...)
    assert record[0].filename == __file__  # stacklevel points at the user's call
    assert list(selected) == [] and sorted(rest) == ["frozen", "kernel"]


def test_split_warns_naming_the_closest_tag():
    with pytest.warns(
        ng.FilterWarning,
        match=r"(?s)closest tag: 'pretrained' \(on model\.frozen\).*"
        r"Fix: nnx\.split\(model, 'pretrained', Param, \.\.\.\)",
    ):
        ng.split(Tagged(), "pretrianed", Param, ...)


def test_state_split_warns_with_the_state_spelling():
    _, state = ng.split(Tagged())
    with pytest.warns(
        ng.FilterWarning, match=r"(?s)State\.split: .*Fix: state\.split\('pretrained', \.\.\.\)"
    ) as record:
        state.split("pretrain", ...)
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    "filters",
    [
        ("pretrained", ...),  # matches a tag
        ("unrelated", ...),  # nothing close: a tag this model just does not use
        (ng.PathContains("kernel"), ...),  # matches a name
        (Param, ng.PathContains("kernel"), ...),  # matches, though Param took it first
    ],
)
def test_split_stays_silent_when_the_filter_is_not_a_near_miss(filters):
    _, *states = ng.split(Tagged(), *filters)  # warnings are errors in this test suite
    assert len(states) == len(filters)


def test_without_a_catch_all_the_filter_error_speaks_instead_of_a_warning():
    with pytest.raises(ng.FilterError, match=r"model\.frozen.*(?s:.*)Fix: add `\.\.\.`"):
        ng.split(Tagged(), ng.PathContains("kernal"), ng.PathContains("kernel"))
