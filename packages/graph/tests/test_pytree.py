"""Objects are jax pytrees (Flax NNX 0.12): tree functions and plain jax.jit accept them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import nnx_graph as ng


class Param(ng.Variable):
    pass


class Block(ng.Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones((2, 2)))
        self.layers = [Param(jnp.zeros(2))]
        self.bare = jnp.full(2, 3.0)
        self.name = "block"
        self.act = jnp.tanh

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.act(x @ self.w.value + self.layers[0].value + self.bare)


def test_leaves_are_the_arrays_and_statics_are_aux_data() -> None:
    block = Block()
    leaves = jax.tree.leaves(block)
    assert sorted(leaf.shape for leaf in leaves) == [(2,), (2,), (2, 2)]
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(block)]
    assert paths == [".bare", ".layers[0].value", ".w.value"]
    assert jax.tree.structure(block) == jax.tree.structure(Block())
    other = Block()
    other.name = "other"
    assert jax.tree.structure(block) != jax.tree.structure(other)


def test_tree_map_returns_a_new_module_and_leaves_the_old_one() -> None:
    block = Block()
    doubled = jax.tree.map(lambda x: x * 2, block)
    assert type(doubled) is Block and doubled is not block
    assert doubled.name == "block" and doubled.act is jnp.tanh
    np.testing.assert_array_equal(doubled.w.value, 2 * np.ones((2, 2)))
    np.testing.assert_array_equal(block.w.value, np.ones((2, 2)))
    assert list(vars(doubled)) == list(vars(block))  # attribute order kept


def test_plain_jax_jit_and_grad_accept_a_module() -> None:
    block = Block()
    x = jnp.ones((1, 2))
    np.testing.assert_allclose(jax.jit(lambda m, x: m(x))(block, x), block(x))
    grads = jax.grad(lambda m: m(x).sum())(block)
    assert type(grads) is Block and grads.w.value.shape == (2, 2)


def test_a_module_mutated_inside_jax_jit_is_a_copy() -> None:
    block = Block()

    @jax.jit
    def step(m: Block) -> Block:
        m.w.value = m.w.value + 1  # the traced copy belongs to this trace: allowed
        return m

    new = step(block)
    np.testing.assert_array_equal(new.w.value, 2 * np.ones((2, 2)))
    np.testing.assert_array_equal(block.w.value, np.ones((2, 2)))  # tree mode: no write-back


def test_list_entries_flatten_in_numeric_order() -> None:
    items = ng.List([Param(jnp.full(1, float(i))) for i in range(12)])
    assert [float(leaf[0]) for leaf in jax.tree.leaves(items)] == [float(i) for i in range(12)]
