"""The umbrella re-exports every package's public API, and importing it stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import nnx

PACKAGES = [
    "nnx_graph",
    "nnx_variables",
    "nnx_transforms",
    "nnx_layers",
    "nnx_optim",
    "nnx_display",
]
# Protocol names the transforms build on; users never need them from the umbrella.
INTERNAL = {
    "add_axis",  # flax has these as nnx.spmd.add_axis / remove_axis only
    "remove_axis",
    "CALL_OBSERVERS",
    "EscapedValue",
    "check_tree",
    "resolve_graph",
    "resolve_updates",
    "root_name",
    "shared_paths",
    "FlatGraph",
    "GraphCache",
    "flatten",
    "unflatten",
    "mark_escaped",
    "bump_epoch",
    "current_trace",
    "current_trace_ref",
    "node_trace_ref",
    "read_slot",
    "checking_fast_path",
    "ByValue",
    "structure_epoch",
    "describe",
    "message",
    "format_path",
    "to_predicate",
    "Path",
    "Any_",
    "render_text",
    "size_summary",
    "set_up_treescope",
    "in_notebook",
    "variable_kinds",
    "spec_axis_names",  # a helper nnx_variables shares with nnx_graph
    "fork_streams",  # fork_rngs and split_rngs share it (split_rngs squeezes)
    # flax keeps these in a namespace: nnx.transforms.general.split_inputs / merge_inputs
    "split_inputs",
    "merge_inputs",
}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_reexported(package: str) -> None:
    module = importlib.import_module(package)
    public = {n for n in vars(module) if not n.startswith("_") and n not in INTERNAL}
    public -= {n for n, v in vars(module).items() if type(v).__name__ == "module"}
    missing = sorted(n for n in public if not hasattr(nnx, n))
    assert not missing, f"nnx does not re-export {missing} from {package}"


@pytest.mark.parametrize("name", ["Module", "Linear", "jit", "Optimizer", "display", "Rngs"])
def test_reexports_are_the_same_objects(name: str) -> None:
    owner = next(
        importlib.import_module(p) for p in PACKAGES if hasattr(importlib.import_module(p), name)
    )
    assert getattr(nnx, name) is getattr(owner, name)


def test_import_nnx_does_not_import_treescope() -> None:
    code = "import sys, nnx; print('treescope' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_initializers_namespace() -> None:
    assert callable(nnx.initializers.lecun_normal())


def test_metrics_are_lazy_and_reexported() -> None:
    code = (
        "import sys, nnx; print('nnx_metrics' in sys.modules); "
        "print(nnx.MultiMetric is sys.modules['nnx_metrics'].MultiMetric); "
        "print(nnx.metrics.Accuracy is nnx.metrics.Accuracy, 'metrics' in dir(nnx))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True"]
    metrics = importlib.import_module("nnx_metrics")
    public = {n for n in vars(metrics) if not n.startswith("_")}
    public -= {n for n, v in vars(metrics).items() if type(v).__name__ == "module"}
    assert all(getattr(nnx.metrics, n) is getattr(metrics, n) for n in public)
    assert nnx.Metric is metrics.Metric
    with pytest.raises(AttributeError, match="no attribute 'Metricz'"):
        nnx.Metricz  # noqa: B018


def test_flatten_and_unflatten_at_the_top_level_as_flax_0_12() -> None:
    import jax.numpy as jnp

    assert nnx.flatten is nnx.graph.flatten and nnx.unflatten is nnx.graph.unflatten

    class Tied(nnx.Module):
        def __init__(self) -> None:
            self.a = nnx.Param(jnp.ones(2))
            self.b = self.a

    graphdef, flat = nnx.flatten(Tied())
    assert flat.paths == (("a",),) and isinstance(nnx.unflatten(graphdef, flat), Tied)
    with pytest.raises(ValueError, match=r"model\.a and model\.b"):
        nnx.flatten(Tied(), graph=False)


def test_variables_is_state_as_in_both_flax_eras() -> None:
    # flax 0.12.8: nnx.variables is nnx.state; 0.10.7: a State of the model's own Variables.
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    params = nnx.variables(model, nnx.Param)
    assert nnx.variables is nnx.state and params["kernel"] is model.kernel


def test_unflatten_copies_or_keeps_variables_as_flax_0_12() -> None:
    # flax 0.12.8 printed: True False, then ArrayImpl.
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    graphdef, flat = nnx.flatten(model)
    assert nnx.unflatten(graphdef, flat).kernel is model.kernel
    assert nnx.unflatten(graphdef, flat, copy_variables=True).kernel is not model.kernel
    graphdef, leaves = nnx.flatten(model, with_paths=False)
    raw = [leaf.get_value() for leaf in leaves]
    rebuilt = nnx.unflatten(graphdef, raw, recreate_variables=False)
    assert not isinstance(rebuilt.kernel, nnx.Variable) and rebuilt.kernel.shape == (2, 3)
