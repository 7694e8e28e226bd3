"""Transforms name arguments in errors by the function's parameter names.

A path reads as the user's code does (``block.w``, ``optimizer.model.w``), never from a
root called ``model`` or ``args[0]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, StaticAttributeError, Variable
from nnx_transforms import jit
from nnx_variables import Param


class Block(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(2))


def test_untraceable_variable_is_named_from_the_parameter() -> None:
    block = Block()
    block.tag = Variable("encoder")
    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.jit: block\.tag: 'encoder' \(the value of a Variable\).*"
        r"Fix: self\.tag = 'encoder'",
    ):
        jit(lambda block, x: block.w * x)(block, jnp.ones(2))


def test_untraceable_argument_after_a_static_one_keeps_its_name() -> None:
    def f(x: jax.Array, n: int, mode: str) -> jax.Array:
        return x * n

    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.jit: mode: 'fast' \(an argument\).*"
        r"Fix: nnx\.jit\(f, static_argnums=\(1, 2\)\)$",
    ):
        jit(f, static_argnums=1)(jnp.ones(2), 2, "fast")


def test_unhashable_static_argument_is_named() -> None:
    with pytest.raises(TypeError, match=r"(?s)static argument sizes is not hashable.*Fix: pass"):
        jit(lambda x, sizes: x, static_argnums=1)(jnp.ones(1), [1, 2])


def test_unhashable_static_attribute_is_named_from_the_parameter() -> None:
    block = Block()
    block.bad = _Unhashable()
    with pytest.raises(
        StaticAttributeError, match=r"(?s)block\.bad: _Unhashable.*not hashable.*Fix:"
    ):
        jit(lambda block: block.w.value)(block)


def test_an_object_inside_a_container_argument_is_named_by_its_place() -> None:
    pair = (Block(), Block())
    pair[1].tag = Variable("x")
    with pytest.raises(TypeError, match=r"(?s)^nnx\.jit: blocks\[1\]\.tag: 'x'"):
        jit(lambda blocks: blocks[0].w.value)(pair)


def test_keyword_arguments_keep_their_keyword() -> None:
    block = Block()
    block.tag = Variable("x")
    with pytest.raises(TypeError, match=r"(?s)^nnx\.jit: layer\.tag: 'x'"):
        jit(lambda *, layer: layer.w.value)(layer=block)


def test_a_method_names_its_object_self() -> None:
    class Model(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.ones(2))
            self.tag = Variable("x")

        @jit
        def __call__(self, x: jax.Array) -> jax.Array:
            return self.w * x

    with pytest.raises(TypeError, match=r"(?s)^nnx\.jit: self\.tag: 'x'"):
        Model()(jnp.ones(2))


class _Unhashable:
    __hash__ = None  # type: ignore[assignment]  # the point of the test

    def __eq__(self, other: object) -> bool:
        raise TypeError("no comparison either")
