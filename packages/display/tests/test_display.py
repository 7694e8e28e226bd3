"""display(): a text tree on stdout outside a notebook, treescope inside one."""

from __future__ import annotations

import sys
import types

import jax.numpy as jnp
import treescope
from display_models import Count, Param

import nnx_display
import nnx_graph as ng


def test_text_tree_of_a_module(model, capsys):
    nnx_display.display(model)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == (
        "MLP( # Param: 149 (596 B), BatchStat: 16 (64 B), Count: 1 (4 B), Total: 166 (664 B)"
    )
    assert "  linear1=Linear( # Param: 48 (192 B)" in lines
    assert "    kernel=Param(value=Array(shape=(2, 16), dtype=float32))," in lines
    assert "  count=Count(value=Array(0, dtype=uint32))," in lines
    assert out == repr(model) + "\n"


def test_shared_nodes_and_cycles_print_once_then_by_path(tangled, capsys):
    nnx_display.display(tangled)
    out = capsys.readouterr().out
    assert out.count("Linear( #") == 2  # linear1 and linear2, each expanded once
    assert "alias=<shared Linear: model.linear1>" in out
    assert "<shared Linear: model.linear2>" in out
    assert "'tied': <shared Param: model.linear1.kernel>" in out
    assert "parent=<shared MLP: model>" in out


def test_several_objects_graphdef_and_states(model, capsys):
    graphdef, params, counts = ng.split(model, Param, ...)
    nnx_display.display(graphdef, params, counts)
    out = capsys.readouterr().out
    assert out.startswith("GraphDef(\n  MLP(\n")
    assert "State({ # Param: 149 (596 B)\n" in out
    assert "  'linear1': { # Param: 48 (192 B)\n" in out
    assert "State({ # Count: 1 (4 B), BatchStat: 16 (64 B), Total: 17 (68 B)\n" in out


def test_variables_and_pytrees(capsys):
    count = Count(jnp.array(3))
    nnx_display.display(count, {"step": count, "again": count, "lr": 0.1})
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Count(value=Array(3, dtype=int32, weak_type=True))"
    # each argument is its own tree: sharing is tracked within one, not across them
    assert "'step': Count(value=Array(3, dtype=int32, weak_type=True))," in out
    assert "'again': <shared Count: model.step>" in out
    assert "'lr': 0.1" in out


def test_graphdef_and_state_together_in_one_pytree(model, capsys):
    nnx_display.display(ng.split(model))
    out = capsys.readouterr().out
    assert out.startswith("(\n  GraphDef(\n    MLP(\n")
    assert "  State({ # Count: 1 (4 B), Param: 149 (596 B), BatchStat: 16 (64 B)" in out
    assert "      'kernel': Param(value=Array(shape=(2, 16), dtype=float32))," in out


class _FakeShell:
    kernel = object()


def _fake_ipython(shell):
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    return module


def test_in_notebook_needs_a_kernel(monkeypatch):
    assert not nnx_display.in_notebook()
    monkeypatch.setitem(sys.modules, "IPython", _fake_ipython(None))
    assert not nnx_display.in_notebook()  # IPython imported, but no shell running
    monkeypatch.setitem(sys.modules, "IPython", _fake_ipython(object()))
    assert not nnx_display.in_notebook()  # a terminal shell: no kernel
    monkeypatch.setitem(sys.modules, "IPython", _fake_ipython(_FakeShell()))
    assert nnx_display.in_notebook()


def test_notebook_renders_each_object_with_treescope(model, monkeypatch, capsys):
    shown = []
    monkeypatch.setitem(sys.modules, "IPython", _fake_ipython(_FakeShell()))
    monkeypatch.setattr(treescope, "display", shown.append)
    registry = treescope.type_registries.TREESCOPE_HANDLER_REGISTRY
    monkeypatch.setattr(treescope.type_registries, "TREESCOPE_HANDLER_REGISTRY", {})
    _, state = ng.split(model)
    nnx_display.display(model, state)
    assert shown == [model, state]
    assert capsys.readouterr().out == ""  # nothing printed as text
    # display() registered the handlers itself
    assert ng.Object in treescope.type_registries.TREESCOPE_HANDLER_REGISTRY
    assert registry is not treescope.type_registries.TREESCOPE_HANDLER_REGISTRY
