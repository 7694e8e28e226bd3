"""split_context / merge_context / update_context: a hand-written lifted transform."""

import jax
import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Box(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(2))


def lifted(tag, fn, node):
    """A minimal lifted jit written with the contexts, as flax's guide shows."""
    with ng.update_context(tag):
        with ng.split_context(tag) as ctx:
            graphdef, state = ctx.split(node)

        @jax.jit
        def inner(graphdef, state):
            with ng.merge_context(tag, inner=True) as ctx:
                copy = ctx.merge(graphdef, state)
            fn(copy)
            with ng.split_context(tag) as ctx:
                return ctx.split(copy)

        out = inner(graphdef, state)
        with ng.merge_context(tag, inner=False) as ctx:
            return ctx.merge(*out)


def test_the_caller_object_is_updated_in_place_with_new_attributes_and_cycles():
    box = Box()
    w = box.w

    def fn(m):
        m.w.value = m.w.value * 3
        m.child = Box()
        m.me = m

    same = lifted("t", fn, box)
    assert same is box and box.w is w and float(box.w.value[0]) == 3.0
    assert isinstance(box.child, Box) and box.me is box


def test_shared_references_stay_shared():
    outer = ng.Dict({"a": Box()})
    outer["b"] = outer["a"]

    def fn(m):
        m["a"].w.value = m["a"].w.value + 1

    lifted("s", fn, outer)
    assert outer["a"] is outer["b"] and float(outer["b"].w.value[0]) == 2.0


def test_without_an_update_context_they_are_plain_split_and_merge():
    box = Box()
    with ng.split_context() as ctx:
        graphdef, state = ctx.split(box)
    with ng.merge_context() as ctx:
        copy = ctx.merge(graphdef, state)
    assert copy is not box and copy.w is box.w
    with pytest.raises(ValueError, match=r"No update_context\('x'\)"), ng.split_context("x") as c:
        c.split(box)


def test_update_context_is_a_decorator_and_clears_itself():
    @ng.update_context("d")
    def run():
        return ng.current_update_context("d")

    context = run()
    assert context.outer_nodes is None and context.inner_index is None
