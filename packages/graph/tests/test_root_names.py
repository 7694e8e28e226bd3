"""How graph errors name their root, and where an escaped object says it was built."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import nnx_graph as ng


class Count(ng.Variable):
    pass


class Trainer(ng.Object):
    _nnx_root_name = "trainer"  # how an Optimizer-like holder names itself

    def __init__(self) -> None:
        self.w = ng.Variable(jnp.ones(2))
        self.count = Count(jnp.array(0))


class Block(ng.Module):
    def __init__(self) -> None:
        self.w = ng.Variable(jnp.ones(2))
        self.count = Count(jnp.array(0))


def test_split_of_an_object_that_names_itself_uses_that_name() -> None:
    with pytest.raises(
        ng.FilterError, match=r"(?s)  - trainer\.w: .*Fix: .*nnx\.split\(trainer, Count, \.\.\.\)"
    ):
        ng.split(Trainer(), Count)


def test_other_graphs_are_still_called_model() -> None:
    assert ng.root_name(Block()) == "model" and ng.root_name(Trainer()) == "trainer"
    with pytest.raises(ng.FilterError, match=r"(?s)model\.w.*nnx\.split\(model, Count, "):
        ng.split(Block(), Count)


def test_an_unhashable_static_under_a_self_named_root() -> None:
    trainer = Trainer()
    trainer.options = _Unhashable()
    with pytest.raises(ng.StaticAttributeError, match=r"trainer\.options"):
        ng.split(trainer)


def test_escaped_nodes_say_where_they_were_built() -> None:
    block = Block()
    ng.mark_escaped([block, block.w, block.count], "nnx.vmap (tracing make)")
    with pytest.raises(
        ng.EscapedTraceError,
        match=r"(?s)^This Variable was created inside nnx\.vmap \(tracing make\).*Fix: return",
    ):
        _ = block.w.value
    with pytest.raises(
        ng.EscapedTraceError, match=r"(?s)^This Block was built inside nnx\.vmap \(tracing make\)"
    ):
        block.x = 1


class _Unhashable:
    __hash__ = None  # type: ignore[assignment]  # the point of the test

    def __eq__(self, other: object) -> bool:
        raise TypeError("compared neither by hash nor by value")
