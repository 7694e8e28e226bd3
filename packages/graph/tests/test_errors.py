"""Every user-facing raise: it names the path and the value, gives the fix, changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Stat(ng.Variable):
    pass


class Cache(ng.Variable):
    pass


class Block(ng.Module):
    def __init__(self):
        self.w = Param(jnp.ones((2, 3)))
        self.mean = Stat(jnp.zeros(3))
        self.layers = [ng.Module(), {"kv": Cache(jnp.zeros(4, dtype=jnp.int32))}]
        self.layers[0].raw = jnp.ones(2)


def snapshot(node):
    """Everything observable about a graph: structure, values, and node identities."""
    return ng.graphdef(node), ng.state(node), [id(n) for _, n in ng.iter_graph(node)]


def assert_unchanged(node, before):
    graphdef, state, ids = snapshot(node)
    assert graphdef == before[0] and state == before[1] and ids == before[2]


def test_error_classes_subclass_builtins():
    assert issubclass(ng.FilterError, ValueError)
    assert issubclass(ng.StateMismatchError, ValueError)
    assert issubclass(ng.StaticAttributeError, ValueError)
    assert issubclass(ng.StaticAttributeError, TypeError)
    assert issubclass(ng.TraceContextError, ng.GraphError)


def test_message_helpers():
    text = ng.message("Summary.", ["a", "b"], expected="this", fix="do()")
    assert text == "Summary.\n  - a\n  - b\nExpected: this\nFix: do()"
    assert ng.describe(np.zeros((2,), np.int8)) == "ndarray(shape=(2,), dtype=int8)"
    assert ng.describe("x" * 50) == "str"
    assert ng.format_path(("a", 0, "b c"), "m") == "m.a[0]['b c']"


# -- non-exhaustive filters ------------------------------------------------------------


def test_non_exhaustive_filters_list_every_unmatched_path_and_kind():
    block = Block()
    before = snapshot(block)
    with pytest.raises(ng.FilterError) as info:
        ng.split(block, Param)
    text = str(info.value)
    assert text.startswith("nnx.split: the filters (Param) do not match every value.")
    assert "model.mean: Array(shape=(3,), dtype=float32) (Stat)" in text
    assert "model.layers[1].kv: Array(shape=(4,), dtype=int32) (Cache)" in text
    assert "model.layers[0].raw: Array(shape=(2,), dtype=float32) (bare array)" in text
    assert "model.w" not in text
    assert (
        "Fix: add `...` as the last filter to catch the rest: nnx.split(model, Param, ...)" in text
    )
    assert_unchanged(block, before)


def test_non_exhaustive_filter_combination_is_named_in_the_fix():
    with pytest.raises(
        ng.FilterError, match=r"(?s)model.mean.*nnx.split\(model, Param, Cache, \.\.\.\)"
    ):
        ng.split(Block(), Param, Cache)


# -- States that do not fit ------------------------------------------------------------


def test_merge_names_missing_and_extra_paths_together():
    graphdef, state = ng.split(Block())
    del state["mean"]
    state["layers"][1]["kv"]  # still there
    state["extra"] = ng.VariableState(Param, jnp.ones(5))
    with pytest.raises(
        ng.StateMismatchError,
        match=r"(?s)nnx.merge: the States do not fit the GraphDef\."
        r".*state.mean: missing.*state.extra: Array\(shape=\(5,\), dtype=float32\) is not in "
        r"the GraphDef.*Fix: pass every State that split returned: nnx.merge\(graphdef, \*states\)",
    ):
        ng.merge(graphdef, state)


def test_merge_with_only_some_filtered_states_names_what_is_missing():
    graphdef, params, _ = ng.split(Block(), Param, ...)
    with pytest.raises(
        ng.StateMismatchError,
        match=r"(?s)state.layers\[0\].raw: missing.*state.layers\[1\].kv: missing"
        r".*state.mean: missing",
    ):
        ng.merge(graphdef, params)


def test_merge_with_a_state_of_another_model():
    graphdef, _ = ng.split(Block())
    other = ng.Module()
    other.kernel = Param(jnp.ones(1))
    with pytest.raises(
        ng.StateMismatchError, match=r"(?s)state.w: missing.*state.kernel: .* is not in"
    ):
        ng.merge(graphdef, ng.state(other))


def test_update_with_extra_paths_changes_nothing():
    block = Block()
    before = snapshot(block)
    state = jax.tree.map(lambda x: x + 1, ng.state(block))
    state["layers"][1]["value"] = ng.VariableState(Cache, jnp.ones(1))
    with pytest.raises(ng.StateMismatchError, match=r"(?s)state.layers\[1\].value.*model.w.*Fix:"):
        ng.update(block, state)
    assert_unchanged(block, before)


# -- static attributes -----------------------------------------------------------------


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


def test_unhashable_static_attribute_is_named_by_path():
    block = Block()
    block.layers[0].config = [Unhashable()]  # a list of statics: static, not a container
    block.options = Unhashable()
    before_ids = [id(n) for _, n in ng.iter_graph(block)]
    with pytest.raises(ng.StaticAttributeError) as info:
        ng.split(block)
    text = str(info.value)
    assert "model.layers[0].config[0]: Unhashable is not hashable" in text
    assert "model.options: Unhashable is not hashable" in text
    assert "Fix: wrap array-like data in a Variable" in text
    assert "store a tuple instead of a list/set" in text
    for op in (ng.graphdef, ng.state, ng.clone):
        with pytest.raises(ng.StaticAttributeError, match=r"model.options"):
            op(block)
    assert [id(n) for _, n in ng.iter_graph(block)] == before_ids


def test_an_unhashable_static_that_compares_by_value_is_accepted():
    block = Block()
    block.tags = {"a", "b"}  # a set: equal to a copy of itself, so compared by ==
    graphdef = ng.graphdef(block)
    assert hash(graphdef) == hash(ng.graphdef(block))
    block.tags.add("c")
    assert ng.graphdef(block) != graphdef


def test_unhashable_variable_metadata_is_named_by_path():
    block = Block()
    block.w.sharding = ["data", None]
    with pytest.raises(
        ng.StaticAttributeError, match=r"(?s)metadata of model.w: tuple is not hashable"
    ):
        ng.split(block)
    block.w.sharding = ("data", None)
    ng.split(block)


# -- traces ----------------------------------------------------------------------------


def test_mutating_a_captured_module_inside_jit_is_refused_and_changes_nothing():
    block = Block()
    before = snapshot(block)

    @jax.jit
    def set_attribute(x):
        block.new = x
        return x

    with pytest.raises(
        ng.TraceContextError, match=r"(?s)Cannot set Block.new from inside.*`step\(model, x\)`"
    ):
        set_attribute(jnp.ones(1))

    @jax.jit
    def write_value(x):
        block.w.value = x
        return x

    with pytest.raises(
        ng.TraceContextError, match=r"(?s)Cannot update a Param.*pass the module in"
    ):
        write_value(jnp.ones((2, 3)))

    @jax.jit
    def augmented(x):
        block.w += x
        return x

    with pytest.raises(ng.TraceContextError, match=r"Cannot update a Param"):
        augmented(jnp.ones((2, 3)))
    assert_unchanged(block, before)


def test_update_inside_jit_on_a_captured_module_is_refused():
    block = Block()
    before = snapshot(block)

    @jax.jit
    def inner(state):
        ng.update(block, state)
        return 0

    with pytest.raises(
        ng.TraceContextError, match=r"(?s)Cannot set Module.raw from inside.*Fix: pass"
    ):
        inner(ng.state(block))
    assert_unchanged(block, before)


def test_reading_a_captured_module_inside_jit_is_fine():
    block = Block()
    out = jax.jit(lambda x: x @ block.w)(jnp.ones((1, 2)))
    np.testing.assert_array_equal(out, [[2.0, 2.0, 2.0]])


def test_escaped_objects_fail_loudly_with_the_fix():
    block = Block()
    ng.mark_escaped([block, block.w])
    with pytest.raises(
        ng.EscapedTraceError, match=r"(?s)was created inside a JAX transform.*return the object"
    ):
        _ = block.w.value
    with pytest.raises(
        ng.EscapedTraceError, match=r"(?s)built inside a JAX transform.*return the object"
    ):
        block.x = 1
