"""Logical axis rules: the context, merging with a Variable's own rules, conflicts."""

import threading

import pytest

import nnx_graph as ng

RULES = [("batch", "data"), ("embed", None), ("mlp", "model")]


def test_context_sets_and_restores_rules():
    assert ng.get_logical_axis_rules() == ()
    with ng.logical_axis_rules(RULES):
        assert ng.get_logical_axis_rules() == tuple(RULES)
        with ng.logical_axis_rules([("mlp", "data")]):
            assert ng.get_logical_axis_rules() == (("mlp", "data"),)
        assert ng.get_logical_axis_rules() == tuple(RULES)
    assert ng.get_logical_axis_rules() == ()


def test_rules_are_per_thread():
    seen = []
    with ng.logical_axis_rules(RULES):
        thread = threading.Thread(target=lambda: seen.append(ng.get_logical_axis_rules()))
        thread.start()
        thread.join()
    assert seen == [()]


def test_names_map_by_context_and_local_rules():
    with ng.logical_axis_rules(RULES):
        assert ng.apply_axis_rules(("batch", "embed", "mlp")) == ("data", None, "model")
    assert ng.apply_axis_rules(("embed", "mlp"), RULES) == (None, "model")


def test_unknown_names_and_none_pass_through():
    with ng.logical_axis_rules(RULES):
        assert ng.apply_axis_rules(("model", None, "heads")) == ("model", None, "heads")


def test_no_rules_returns_the_same_object():
    names = ("embed", "mlp")
    assert ng.apply_axis_rules(names) is names


def test_rule_to_several_mesh_axes_and_tuple_entries():
    rules = [("batch", ("data", "fsdp")), ("embed", None), ("mlp", "model")]
    assert ng.apply_axis_rules(("batch", "mlp"), rules) == (("data", "fsdp"), "model")
    # a tuple entry has each of its names mapped (flax leaves it unmapped)
    assert ng.apply_axis_rules((("embed", "mlp"), None), rules) == ("model", None)
    assert ng.apply_axis_rules((("batch", "mlp"),), rules) == (("data", "fsdp", "model"),)
    assert ng.apply_axis_rules((("embed",),), rules) == (None,)


def test_equal_rules_in_both_places_are_fine():
    with ng.logical_axis_rules(RULES):
        assert ng.apply_axis_rules(("mlp",), [("mlp", "model")]) == ("model",)


def test_conflicting_rules_name_the_logical_axis_and_the_fix():
    with (
        ng.logical_axis_rules([("mlp", "data")]),
        pytest.raises(ValueError, match=r"(?s)'mlp'.*'data'.*'model'.*Fix: drop the name"),
    ):
        ng.apply_axis_rules(("embed", "mlp"), RULES, "Param(...)")


@pytest.mark.parametrize(
    "rules",
    [[("mlp",)], [("mlp", 3)], [(1, "model")], ["mlp"]],
)
def test_malformed_rules_are_refused_with_the_entry(rules):
    with (
        pytest.raises(TypeError, match=r"(?s)some rules are malformed.*is not a.*Fix: "),
        ng.logical_axis_rules(rules),
    ):
        pass


def test_rules_must_be_a_sequence():
    with (
        pytest.raises(TypeError, match=r"(?s)got str 'mlp'.*Fix: nnx.logical_axis_rules"),
        ng.logical_axis_rules("mlp"),
    ):
        pass
