"""The standard Variable kinds: one contract test over every kind, plus sow and pop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng
from nnx_variables import (
    BatchStat,
    Cache,
    Intermediate,
    Param,
    Perturbation,
    RngCount,
    RngKey,
    variable_kinds,
)

KINDS = [Param, BatchStat, Cache, Intermediate, Perturbation]


def test_variable_kinds_lists_the_builtin_kinds():
    assert variable_kinds() == {kind.__name__: kind for kind in KINDS}
    assert issubclass(Perturbation, Intermediate)
    assert all(issubclass(kind, ng.Variable) for kind in KINDS)


@pytest.mark.parametrize("kind", [*KINDS, RngCount], ids=lambda k: k.__name__)
def test_kind_contract(kind):
    class Holder(ng.Module):
        def __init__(self):
            self.x = kind(jnp.array(1, dtype=jnp.uint32), sharding=("a",))
            self.other = Param(jnp.zeros(1)) if kind is not Param else BatchStat(jnp.zeros(1))

    holder = Holder()
    box = holder.x
    holder.x += 1  # keeps the Variable
    assert holder.x is box and type(holder.x) is kind and int(holder.x.value) == 2
    holder.x[...] = holder.x[...] * 3
    assert int(holder.x.value) == 6

    graphdef, selected, rest = ng.split(holder, kind, ...)
    assert list(selected.flat_dict()) == [("x",)]
    assert selected.x.type is kind and selected.x.metadata == {"out_sharding": ("a",)}
    copy = ng.merge(graphdef, selected, rest)
    assert type(copy.x) is kind and copy.x.out_sharding == ("a",)
    assert copy.x.value.dtype == jnp.uint32 and int(copy.x.value) == 6

    ng.update(holder, jax.tree.map(lambda v: v + 1, selected))
    assert holder.x is box and int(holder.x.value) == 7
    assert holder.x == 7 and holder.x != 8  # compares like its value


def test_param_filter_does_not_take_other_kinds():
    model = ng.Module()
    model.w = Param(jnp.ones(1))
    model.mean = BatchStat(jnp.ones(1))
    model.kv = Cache(jnp.ones(1))
    model.act = Perturbation(jnp.ones(1))
    model.key = RngKey(jax.random.key(0))
    _, params, stats, inter, rest = ng.split(model, Param, BatchStat, Intermediate, ...)
    assert list(params) == ["w"] and list(stats) == ["mean"]
    assert list(inter) == ["act"]  # a Perturbation is an Intermediate
    assert sorted(rest) == ["key", "kv"]


class Block(ng.Module):
    def __init__(self):
        self.w = Param(jnp.full((2, 2), 0.5))

    def __call__(self, x):
        h = x @ self.w
        self.sow(Intermediate, "hidden", h)
        return jnp.tanh(h)


class Net(ng.Module):
    def __init__(self):
        self.blocks = {"first": Block(), "second": Block()}

    def __call__(self, x):
        return self.blocks["second"](self.blocks["first"](x))


def test_sow_then_pop_collects_every_intermediate_and_leaves_params():
    net = Net()
    before = ng.graphdef(net)
    x = jnp.ones((1, 2))
    net(x)
    net(x)
    intermediates = ng.pop(net, Intermediate)
    assert set(intermediates.flat_dict()) == {
        ("blocks", "first", "hidden"),
        ("blocks", "second", "hidden"),
    }
    first = intermediates.blocks.first.hidden.value
    assert isinstance(first, tuple) and len(first) == 2
    np.testing.assert_allclose(first[0], x @ net.blocks["first"].w.value)
    assert ng.graphdef(net) == before  # popped: back to the structure without them
    assert type(net.blocks["first"].w) is Param


def test_sow_inside_jit_through_split_and_merge():
    net = Net()
    graphdef, state = ng.split(net)

    @jax.jit
    def forward(graphdef, state, x):
        inner = ng.merge(graphdef, state)
        y = inner(x)
        return y, ng.pop(inner, Intermediate), ng.split(inner)[1]

    y, intermediates, state = forward(graphdef, state, jnp.ones((1, 2)))
    assert y.shape == (1, 2)
    assert len(intermediates.blocks.second.hidden.value) == 1
    ng.update(net, state)
    assert "hidden" not in vars(net.blocks["first"])


def test_metadata_of_every_kind_survives_a_state_round_trip():
    for kind in KINDS:
        variable = kind(jnp.ones(2), description=kind.__name__, sharding=(None,))
        state = variable.to_state()
        assert state.to_variable().get_metadata() == variable.get_metadata()
        assert jax.tree.map(lambda v: v * 2, state).metadata == variable.get_metadata()
