"""A plain (unhashable) @dataclass config on a module: accepted, and never stale."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import nnx_graph as ng
import nnx_transforms as nt


@dataclasses.dataclass
class Config:
    scale: int = 2


class Model(ng.Module):
    def __init__(self):
        self.config = Config()
        self.w = ng.Variable(jnp.ones(2))


def test_a_mutable_dataclass_config_works_under_jit_and_edits_retrace():
    model, traces = Model(), []

    @nt.jit
    def apply(model):
        traces.append(1)
        return model.w.value * model.config.scale

    np.testing.assert_array_equal(apply(model), [2.0, 2.0])
    apply(model)
    assert len(traces) == 1
    model.config.scale = 3  # edited in place: flax 0.10 keeps returning 2s here
    np.testing.assert_array_equal(apply(model), [3.0, 3.0])
    model.config = Config(3)  # an equal config reuses the compiled step
    np.testing.assert_array_equal(apply(model), [3.0, 3.0])
    assert len(traces) == 2
    with ng.check_fast_path():
        model.config.scale = 5
        np.testing.assert_array_equal(apply(model), [5.0, 5.0])


def test_split_keeps_the_config_object_and_the_graphdef_hashes():
    model = Model()
    graphdef, state = ng.split(model)
    hash(graphdef)
    assert ng.merge(graphdef, state).config is model.config
    other = Model()
    assert ng.graphdef(other) == graphdef
    other.config.scale = 7
    assert ng.graphdef(other) != graphdef


def test_an_uncopyable_unhashable_static_still_names_the_fix():
    class Handle:
        __hash__ = None

        def __deepcopy__(self, memo):
            raise TypeError("no copies")

    model = Model()
    model.handle = Handle()
    with pytest.raises(ng.StaticAttributeError, match=r"(?s)model.handle.*frozen=True"):
        ng.split(model)
