from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import Carry, StateAxes, jit, scan, split_rngs, vmap
from nnx_variables import BatchStat, Param, Rngs


class Layer(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (4, 4)) * 0.5)
        self.stat = BatchStat(jnp.zeros(4))
        self.rngs = rngs

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.tanh(x @ self.w) + 0.0 * jax.random.normal(self.rngs.dropout(), x.shape)
        self.stat.value = self.stat.value + y.mean(axis=0)
        return y


@pytest.fixture
def stack() -> Layer:
    @vmap(in_axes=0, out_axes=0)
    def create(key: jax.Array) -> Layer:
        return Layer(Rngs(key))

    return create(jax.random.split(jax.random.key(0), 3))


def test_vmapped_constructor_stacks_the_state(stack: Layer) -> None:
    assert stack.w.value.shape == (3, 4, 4)
    assert stack.stat.value.shape == (3, 4)
    assert stack.rngs.default.count.value.shape == (3,)
    first = Layer(Rngs(jax.random.split(jax.random.key(0), 3)[0]))
    assert jnp.allclose(stack.w.value[0], first.w.value)


def test_scan_over_a_stack_propagates_state_updates(stack: Layer) -> None:
    @scan(in_axes=(0, Carry), out_axes=Carry)
    def forward(layer: Layer, x: jax.Array) -> jax.Array:
        return layer(x)

    x = jnp.ones((2, 4))
    y = forward(stack, x)
    expected = x
    for i in range(3):
        expected = jnp.tanh(expected @ stack.w.value[i])
    assert y.shape == (2, 4)
    assert jnp.allclose(y, expected, atol=1e-5)
    assert not jnp.allclose(stack.stat.value, 0.0)
    assert stack.rngs.default.count.value.tolist() == [2, 2, 2]


def test_scan_with_stacked_outputs_and_jit(stack: Layer) -> None:
    @jit
    @scan(in_axes=(0, Carry), out_axes=(Carry, 0))
    def forward(layer: Layer, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        y = layer(x)
        return y, y.sum()

    y, sums = forward(stack, jnp.ones((2, 4)))
    assert sums.shape == (3,)
    assert jnp.allclose(sums[-1], y.sum())


def test_vmap_over_inputs_with_a_broadcast_model() -> None:
    layer = Layer(Rngs(0))
    batched = vmap(lambda m, x: jnp.tanh(x @ m.w), in_axes=(None, 0))(layer, jnp.ones((5, 2, 4)))
    assert batched.shape == (5, 2, 4)


def test_state_axes_map_params_and_broadcast_stats() -> None:
    layer = Layer(Rngs(0))
    layer.w.value = jnp.stack([layer.w.value] * 3)
    axes = StateAxes({Param: 0, ...: None})
    out = vmap(lambda m, x: x @ m.w, in_axes=(axes, None))(layer, jnp.ones((2, 4)))
    assert out.shape == (3, 2, 4)


def test_state_axes_must_cover_the_state() -> None:
    layer = Layer(Rngs(0))
    with pytest.raises(ValueError, match=r"(?s)do not match every value.*args\[0\]\.stat.*Fix"):
        vmap(lambda m: m.w.value, in_axes=(StateAxes({Param: 0}),))(layer)


def test_in_axes_that_do_not_fit_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"(?s)in_axes has 3 entries.*2 positional.*Fix"):
        vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(jnp.ones(2), jnp.ones(2))


def test_split_rngs_gives_each_copy_its_own_key() -> None:
    @split_rngs(splits=4)
    @vmap(in_axes=(0,), out_axes=0)
    def create(rngs: Rngs) -> Layer:
        return Layer(rngs)

    rngs = Rngs(0)
    stack = create(rngs)
    assert stack.w.value.shape == (4, 4, 4)
    assert not jnp.allclose(stack.w.value[0], stack.w.value[1])
    assert rngs.default.key.value.shape == ()  # restored afterwards
    assert int(rngs.default.count.value) == 1


def test_split_rngs_restores_streams_after_an_error() -> None:
    rngs = Rngs(0)

    @split_rngs(splits=2)
    def fails(rngs: Rngs) -> None:
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails(rngs)
    assert rngs.default.key.value.shape == ()
    assert int(rngs.default.count.value) == 0


def test_scan_broadcast_state_is_read_only(stack: Layer) -> None:
    shared = Layer(Rngs(1))

    @scan(in_axes=(None, Carry, 0), out_axes=Carry)
    def loop(m: Layer, x: jax.Array, _: Any) -> jax.Array:
        return m(x)

    with pytest.raises(ValueError, match=r"(?s)broadcast argument.*stat.*Fix"):
        loop(shared, jnp.ones((2, 4)), jnp.arange(3))


def test_scan_carry_mismatch_is_a_clear_error() -> None:
    @scan(in_axes=(Carry, 0), out_axes=Carry)
    def loop(c: jax.Array, x: jax.Array) -> Any:
        return (c, c)

    with pytest.raises(ValueError, match=r"(?s)carry returned holds 2.*carry passed in holds 1"):
        loop(jnp.zeros(()), jnp.arange(3.0))


def test_vmap_of_an_unbatched_model_names_its_variables_and_the_fix() -> None:
    layer = Layer(Rngs(0))
    w = layer.w.value

    def apply(m: Layer, x: jax.Array) -> jax.Array:
        return jnp.tanh(x @ m.w.value)

    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: in_axes maps the Variables of args\[0\] as batched, but they "
        r"are not: the batch has size 5\..*"
        r"  - args\[0\]\.rngs\.default\.key: PRNGKeyArray\(shape=\(\), .*\) has no axis 0.*"
        r"  - args\[0\]\.w: Array\(shape=\(4, 4\), dtype=float32\) mapped on axis 0 \(size 4\).*"
        r"Fix: nnx\.vmap\(apply, in_axes=\(None, 0\)\)",
    ):
        vmap(apply, in_axes=0)(layer, jnp.ones((5, 4)))
    assert layer.w.value is w
    assert vmap(apply, in_axes=(None, 0))(layer, jnp.ones((5, 4))).shape == (5, 4)  # the fix


def test_vmap_of_plain_arrays_of_different_sizes_names_them() -> None:
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: the values mapped by in_axes do not share one batch size \(3\).*"
        r"  - y: Array\(shape=\(4,\), dtype=float32\) mapped on axis 0 \(size 4\).*"
        r"Fix: give every mapped value one size",
    ):
        vmap(lambda x, y: x + y)(jnp.ones(3), y=jnp.ones(4))


def test_scan_carry_that_changes_shape_names_the_argument_path() -> None:
    @scan(in_axes=(Carry, 0), out_axes=(Carry, 0))
    def grow(carry: Any, x: jax.Array) -> Any:
        layer, history = carry
        return (layer, jnp.concatenate([history, x])), x

    with pytest.raises(
        TypeError,
        match=r"(?s)^nnx\.scan: the loop body returns a carry whose shape or dtype differs.*"
        r"  - carry\[1\]: goes in as Array\(shape=\(4,\), dtype=float32\), comes back as "
        r"Array\(shape=\(8,\), dtype=float32\).*"
        r"Fix: keep its shape and dtype in the body, or start carry\[1\] as the body returns "
        r"it: jnp\.zeros\(\(8,\), jnp\.float32\)",
    ):
        grow((Layer(Rngs(0)), jnp.zeros(4)), jnp.ones((3, 4)))


def test_scan_carried_variable_that_changes_dtype_is_named_by_path() -> None:
    layer = Layer(Rngs(0))
    layer.stat.value = jnp.zeros(4, jnp.int32)

    @scan(in_axes=(Carry, 0), out_axes=Carry)
    def loop(m: Layer, x: jax.Array) -> Layer:
        m.stat.value = m.stat.value + x
        return m

    with pytest.raises(
        TypeError,
        match=r"(?s)  - m\.stat: goes in as Array\(shape=\(4,\), dtype=int32\), comes back "
        r"as Array\(shape=\(4,\), dtype=float32\).*Fix: keep its shape and dtype",
    ):
        loop(layer, jnp.ones((3, 4)))
    assert layer.stat.value.dtype == jnp.int32


def test_scan_over_a_stack_whose_rngs_are_not_stacked_names_them_and_the_fix() -> None:
    @split_rngs(splits=3)
    @vmap(in_axes=(0,), out_axes=0)
    def create(rngs: Rngs) -> Layer:
        return Layer(rngs)

    rngs = Rngs(0)
    stack = create(rngs)  # each copy keeps the Rngs passed in: one key, not three
    assert stack.rngs is rngs

    def forward(layer: Layer, x: jax.Array) -> jax.Array:
        return layer(x)

    w = stack.w.value
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.scan: the values scanned by in_axes do not share the loop's length "
        r"\(3\)\..*"
        r"  - layer\.rngs\.default\.key: PRNGKeyArray\(shape=\(\), .*\) has no axis 0.*"
        r"Fix: split the RNG streams for the loop: put @nnx\.split_rngs\(splits=3\) above "
        r"@nnx\.scan",
    ):
        scan(forward, in_axes=(0, Carry), out_axes=Carry)(stack, jnp.ones((2, 4)))
    assert stack.w.value is w
    fixed = split_rngs(scan(forward, in_axes=(0, Carry), out_axes=Carry), splits=3)
    assert fixed(stack, jnp.ones((2, 4))).shape == (2, 4)  # the fix


def test_scan_over_values_of_different_lengths_names_them(stack: Layer) -> None:
    @scan(in_axes=(0, Carry, 0), out_axes=Carry)
    def loop(layer: Layer, x: jax.Array, scale: jax.Array) -> jax.Array:
        return layer(x) * scale

    with pytest.raises(
        ValueError,
        match=r"(?s)do not share the loop's length \(3\)\..*"
        r"  - scale: Array\(shape=\(5,\), dtype=float32\) scanned on axis 0 \(length 5\).*"
        r"Fix: stack what is scanned to one length",
    ):
        loop(stack, jnp.ones((2, 4)), jnp.ones(5))
