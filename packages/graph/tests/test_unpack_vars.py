"""nnx.unpack / GraphState and nnx.with_vars / nnx.var_defaults (flax 0.12)."""

import jax
import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Stat(ng.Variable):
    pass


class Box(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.ones(2))
        self.s = Stat(jnp.zeros(1))


def test_unpack_bundles_the_graphdef_and_merge_takes_it_back():
    box = Box()
    state = ng.unpack(box)
    assert isinstance(state, ng.GraphState) and state.graphdef == ng.graphdef(box)
    assert isinstance(ng.merge(state), Box)
    stats, weights = ng.unpack(box, Stat, ...)
    rebuilt = ng.merge(stats, weights)
    assert rebuilt.w is box.w and rebuilt.s is box.s
    doubled = jax.jit(lambda s: jax.tree.map(lambda v: v * 2, s))(state)
    assert isinstance(doubled, ng.GraphState) and float(ng.merge(doubled).w.value[0]) == 2.0
    with pytest.raises(TypeError, match="no State"):
        ng.merge(ng.graphdef(box))


def test_plain_variables_are_what_with_vars_and_var_defaults_give():
    box = Box()
    copy = ng.with_vars(box, hijax=False, ref=False)
    assert copy is not box and copy.w is box.w
    assert ng.var_defaults() == ng.VarDefaults(hijax=False, ref=False)
    with ng.var_defaults(ref=False):
        pass
    for call in (
        lambda: ng.with_vars(box, hijax=True),
        lambda: ng.with_vars(box, mutable=False),
        lambda: ng.var_defaults(ref=True),
    ):
        with pytest.raises(ng.HijaxNotSupportedError, match="not support"):
            call()


def test_vars_as_is_the_deprecated_name_of_with_vars():
    from nnx_graph import vars_as

    box = Box()
    with pytest.warns(DeprecationWarning, match="use nnx.with_vars"):
        assert vars_as(box, hijax=False).w is box.w
