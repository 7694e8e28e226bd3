"""Treescope renders nnx objects natively: type names, attributes, kinds, shapes, counts."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
import treescope
from display_models import BatchStat, Count, Param

import nnx_display
import nnx_graph as ng


@pytest.fixture(autouse=True)
def handlers():
    nnx_display.set_up_treescope()


def test_setup_registers_every_base_type():
    registry = treescope.type_registries.TREESCOPE_HANDLER_REGISTRY
    for kind in (ng.Object, ng.Variable, ng.State, ng.GraphDef):
        assert kind in registry
    assert (
        treescope.type_registries.lookup_treescope_handler_for_type(Param)
        is (registry[ng.Variable])
    )


def test_module_text(model):
    text = treescope.render_to_text(model)
    assert text.splitlines()[0] == (
        "MLP( # Param: 149 (596 B), BatchStat: 16 (64 B), Count: 1 (4 B), Total: 166 (664 B)"
    )
    assert "linear1=Linear( # Param: 48 (192 B)" in text
    assert "kernel=Param(" in text
    assert "float32(2, 16)" in text  # treescope's array summary: dtype and shape
    assert "mean=BatchStat(" in text
    assert "din=2" in text


def test_module_html(model):
    html = treescope.render_to_html(model, compressed=False)
    for needle in ("MLP", "linear1", "kernel", "Param", "BatchStat", "float32(2, 16)"):
        assert needle in html
    assert "Param: 149 (596 B)" in html


def test_shared_submodules_and_cycles_render(tangled):
    text = treescope.render_to_text(tangled)
    assert "alias=Linear(" in text
    assert "cyclic reference to MLP" in text
    html = treescope.render_to_html(tangled, compressed=False)
    assert "cyclic reference to MLP" in html
    assert "alias" in html and "tied" in html


def test_state_renders_as_nested_mapping_with_counts(model):
    _, params, rest = ng.split(model, Param, ...)
    text = treescope.render_to_text(params)
    assert text.startswith("State({ # Param: 149 (596 B)")
    assert "'linear1': State({ # Param: 48 (192 B)" in text
    assert "Param(" in text and "VariableState" not in text  # a State holds Variables
    assert "float32(2, 16)" in text
    rest_text = treescope.render_to_text(rest)
    assert rest_text.startswith("State({ # Count: 1 (4 B), BatchStat: 16 (64 B), Total: 17 (68 B)")
    assert "Param" not in rest_text.replace("Param:", "")
    html = treescope.render_to_html(params, compressed=False)
    assert "linear1" in html and "kernel" in html


def test_graphdef_renders_its_structure(tangled):
    graphdef = ng.graphdef(tangled)
    text = treescope.render_to_text(graphdef)
    assert text.startswith("GraphDef(\n  MLP(")
    assert "kernel=Param" in text
    assert "din=2" in text
    assert "linear1=<shared: model.alias>" in text  # attributes in sorted order
    assert "parent=<shared: model>" in text
    assert "GraphDef" in treescope.render_to_html(graphdef, compressed=False)


def test_variable_with_metadata_and_its_state_render_alike():
    variable = BatchStat(jnp.ones((3, 4)), sharding=("data", None))
    text = treescope.render_to_text(variable)
    assert text.startswith("BatchStat(")
    assert "float32(3, 4)" in text
    assert "sharding=('data', None)" in text
    state = variable.to_state()  # a State leaf is a Variable now (Flax NNX 0.12)
    assert treescope.render_to_text(state) == text


def test_pytree_holding_objects(model):
    graphdef, state = ng.split(model)
    text = treescope.render_to_text({"graphdef": graphdef, "state": state, "count": Count(1)})
    assert "GraphDef(" in text and "State({" in text and "Count(value=1)" in text
