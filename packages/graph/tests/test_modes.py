"""``graph=`` on split / state / graphdef / clone / iter_graph, and the mode settings.

Tree mode (``graph=False``, flax 0.12) refuses a shared reference, naming both paths,
and otherwise gives exactly what graph mode gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import pytest

from nnx_graph import (
    Module,
    Variable,
    clone,
    graphdef,
    iter_graph,
    set_graph_mode,
    set_graph_updates,
    split,
    state,
)


class Leaf(Module):
    def __init__(self) -> None:
        self.w = Variable(jnp.ones(2))


class Tied(Module):
    def __init__(self) -> None:
        self.a = Variable(jnp.ones(2))
        self.b = self.a


class Twice(Module):
    def __init__(self) -> None:
        self.x = Leaf()
        self.y = [self.x]


FUNCTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("nnx.split", split),
    ("nnx.state", state),
    ("nnx.graphdef", graphdef),
    ("nnx.clone", clone),
    ("nnx.iter_graph", lambda node, **kw: list(iter_graph(node, **kw))),
]


@pytest.mark.parametrize(("op", "fun"), FUNCTIONS, ids=[op for op, _ in FUNCTIONS])
def test_tree_mode_refuses_a_shared_variable_naming_both_paths(
    op: str, fun: Callable[..., Any]
) -> None:
    with pytest.raises(
        ValueError, match=rf"(?s){op}: tree mode.*model\.a and model\.b.*graph=True"
    ):
        fun(Tied(), graph=False)
    fun(Tied())  # graph mode (the default) keeps the sharing
    fun(Tied(), graph=True)


def test_tree_mode_names_a_shared_module_in_a_list() -> None:
    with pytest.raises(ValueError, match=r"model\.x and model\.y\[0\]: the same Leaf"):
        split(Twice(), graph=False)


def test_tree_mode_gives_what_graph_mode_gives_for_a_tree() -> None:
    m = Leaf()
    tree_def, tree_state = split(m, graph=False)
    graph_def, graph_state = split(m)
    assert tree_def == graph_def and tree_state["w"] is graph_state["w"]
    assert state(m, graph=False)["w"] is m.w


def test_set_graph_mode_sets_the_default_for_the_graph_functions() -> None:
    with set_graph_mode(False):
        with pytest.raises(ValueError, match="shared references"):
            state(Tied())
        state(Tied(), graph=True)  # an explicit keyword wins
    state(Tied())


def test_settings_are_flax_s_plain_call_context_and_decorator_forms() -> None:
    assert set_graph_updates.current_value() is True
    with set_graph_updates(False):
        assert set_graph_updates.current_value() is False
        set_graph_updates(True)
        assert set_graph_updates.current_value() is True
    assert set_graph_updates.current_value() is True

    @set_graph_mode(False)
    def inside() -> bool:
        return set_graph_mode.current_value()

    assert inside() is False and set_graph_mode.current_value() is True


class Trainer(Module):
    """Holds a model it does not own, as an Optimizer does."""

    _nnx_references = ("model",)

    def __init__(self, model: Module) -> None:
        self.model = model
        self.count = Variable(jnp.zeros(()))


def test_a_declared_reference_is_not_sharing_in_tree_mode() -> None:
    model = Leaf()
    trainer = Trainer(model)
    for roots in [(model, trainer), (trainer, model), (trainer,)]:
        graphdef_, *_ = split(roots, graph=False)
        assert graphdef_ == split(roots)[0]


def test_sharing_below_a_declared_reference_is_still_refused() -> None:
    model = Tied()
    with pytest.raises(ValueError, match=r"model\[1\]\.model\.a and model\[1\]\.model\.b"):
        split((Leaf(), Trainer(model)), graph=False)
    with pytest.raises(ValueError, match=r"model\[0\]\.a and model\[0\]\.b"):
        split((model, Trainer(model)), graph=False)
