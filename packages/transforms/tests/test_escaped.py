"""An object built inside a transform and used after it returned is refused by path.

Every transform names the argument and attribute path as the user wrote them, the
transform the object escaped from, and the fix, instead of a JAX TypeError about an
invalid type or an internal frame (``_pure``) of the earlier transform.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import EscapedTraceError, List, Module
from nnx_transforms import Carry, grad, jit, scan, value_and_grad, vmap
from nnx_variables import Param


class Layer(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * self.w


class Block(Module):
    def __init__(self) -> None:
        self.layers = List([Layer()])


def escaped_block() -> Block:
    """A Block built inside ``nnx.jit`` (in ``build``), kept after jit returned."""
    kept: list[Block] = []

    @jit
    def build(x: jax.Array) -> Block:
        block = Block()
        kept.append(block)
        return block

    build(jnp.ones(2))
    return kept[0]


def use_in_jit(block: Block) -> Any:
    return jit(lambda block, x: block.layers[0](x))(block, jnp.ones(2))


def use_in_grad(block: Block) -> Any:
    return grad(lambda block, x: block.layers[0](x).sum())(block, jnp.ones(2))


def use_in_value_and_grad(block: Block) -> Any:
    return value_and_grad(lambda block, x: block.layers[0](x).sum())(block, jnp.ones(2))


def use_in_vmap(block: Block) -> Any:
    return vmap(lambda block, x: block.layers[0](x), in_axes=(None, 0))(block, jnp.ones((3, 2)))


def use_in_scan(block: Block) -> Any:
    def step(block: Block, x: jax.Array) -> tuple[Block, jax.Array]:
        return block, block.layers[0](x)

    return scan(step, in_axes=(Carry, 0), out_axes=(Carry, 0))(block, jnp.ones((3, 2)))


USES: dict[str, Callable[[Block], Any]] = {
    "nnx.jit": use_in_jit,
    "nnx.grad": use_in_grad,
    "nnx.value_and_grad": use_in_value_and_grad,
    "nnx.vmap": use_in_vmap,
    "nnx.scan": use_in_scan,
}


@pytest.mark.parametrize("op", list(USES))
def test_an_escaped_object_is_named_by_its_argument_and_path(op: str) -> None:
    block = escaped_block()
    with pytest.raises(EscapedTraceError) as caught:
        USES[op](block)
    text = str(caught.value)
    assert text.startswith(f"{op}: block was built inside nnx.jit (tracing build)")
    assert "block.layers[0].w: a Param" in text
    assert "Fix: block = build(...)  # return block from the transformed function" in text
    assert "_pure" not in text and "EscapedValue" not in text


def test_a_returned_object_is_not_escaped_and_works_everywhere() -> None:
    block = jit(lambda: Block())()
    for use in USES.values():
        use(block)


def test_a_copy_kept_from_vmap_names_vmap_and_the_function() -> None:
    kept: list[Layer] = []

    def keep(layer: Layer, x: jax.Array) -> jax.Array:
        kept.append(layer)
        return layer(x)

    vmap(keep, in_axes=(None, 0))(Layer(), jnp.ones((3, 2)))
    with pytest.raises(
        EscapedTraceError,
        match=r"(?s)^nnx\.jit: layer was built inside nnx\.vmap \(tracing keep\).*"
        r"  - layer\.w: a Param built there.*Fix: layer = build",
    ):
        jit(lambda layer: layer.w.value)(kept[0])


def test_eager_use_says_where_it_was_built() -> None:
    block = escaped_block()
    with pytest.raises(
        EscapedTraceError, match=r"(?s)Param was created inside nnx\.jit \(tracing build\)"
    ):
        block.layers[0](jnp.ones(2))
    with pytest.raises(EscapedTraceError, match=r"(?s)Layer was built inside nnx\.jit"):
        block.layers[0].w = Param(jnp.zeros(2))


def test_a_cached_walk_does_not_hide_the_escape() -> None:
    # The inner jit walks the copy (and caches the walk) while the outer one traces;
    # once the outer returns, the copy is poisoned and a call with it must walk again.
    inner = jit(lambda block: block.layers[0].w.value.sum())
    kept: list[Block] = []

    @jit
    def outer(block: Block) -> jax.Array:
        kept.append(block)
        return inner(block)

    outer(Block())
    with pytest.raises(EscapedTraceError, match=r"^nnx\.jit: block was built inside nnx\.jit"):
        inner(kept[0])
