"""nnx.call, GraphDef.apply, GraphDef[T], Variable.state (flax's functional calls)."""

import jax
import jax.numpy as jnp

import nnx_graph as ng


class Counter(ng.Module):
    def __init__(self):
        self.count = ng.Variable(jnp.array(0))
        self.inner = Inner()

    def __call__(self, k):
        self.count.value += k
        return self.count.value

    def add(self, k):
        return self(k)


class Inner(ng.Module):
    def __init__(self):
        self.w = ng.Variable(jnp.array(3.0))

    def scale(self, x):
        return x * self.w.value


def test_call_runs_a_method_and_returns_the_new_split_without_touching_the_object():
    counter = Counter()
    graphdef, state = ng.split(counter)
    out, (graphdef2, state2) = ng.call((graphdef, state)).add(2)
    assert int(out) == 2 and int(state2["count"].value) == 2
    assert int(counter.count.value) == 0 and int(state["count"].value) == 0
    assert graphdef2 == graphdef
    out, _ = ng.call((graphdef, state)).inner.scale(2.0)  # a sub-module's method
    assert float(out) == 6.0


def test_graphdef_apply_is_call_and_works_under_jit():
    graphdef, state = ng.split(Counter())

    @jax.jit
    def step(state):
        out, (_, state) = graphdef.apply(state)(5)
        return out, state

    out, state = step(state)
    out, state = step(state)
    assert int(out) == 10 and int(state["count"].value) == 10


def test_graphdef_annotations_and_variable_state():
    def typed(g: ng.GraphDef[Counter]) -> ng.PureState:
        return g, ng.State({})

    typed(ng.graphdef(Counter()))
    assert ng.GraphDef[Counter] is not None
    leaf = ng.Variable.state(1.0, tag="w")
    assert isinstance(leaf, ng.VariableState) and leaf.tag == "w"
