"""nnx.vmap behaves as Flax NNX's does where code ported from flax relies on it (issue 11).

Returned captured objects and inconsistent axes for one object are refused (flax refuses
them too); a transformed ``__init__``, keyword arguments bound to in_axes positions and
StateAxes in out_axes work.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, state
from nnx_transforms import StateAxes, split_rngs, vmap
from nnx_variables import BatchStat, Intermediate, Param, Rngs


class Member(Module):
    def __init__(self, key: jax.Array) -> None:
        self.w = Param(jax.random.normal(key, (2, 3)))
        self.mean = BatchStat(jnp.zeros(3))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.w


def member() -> Member:
    return Member(jax.random.key(0))


# case 2: returning an object captured from outside -----------------------------------


def test_returning_a_captured_object_is_refused_naming_it_and_the_fix() -> None:
    m = member()
    w = m.w.value
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: .*captured.*"
        r"  - result: Member \(captured as `m`\).*"
        r"Fix: .*add `m` to .*parameters.*in_axes",
    ):
        vmap(lambda x: m)(jnp.ones((4, 2)))
    assert m.w.value is w  # the captured object is untouched and still usable
    assert m(jnp.ones((1, 2))).shape == (1, 3)


def test_a_captured_object_or_variable_anywhere_in_the_result_is_named_by_path() -> None:
    m = member()
    with pytest.raises(ValueError, match=r"(?s)  - result\[1\]: Member \(captured as `m`\)"):
        vmap(lambda x: (x, m))(jnp.ones((4, 2)))
    with pytest.raises(
        ValueError, match=r"(?s)  - result\['a'\]\[0\]: Param \(captured as `m.w`\)"
    ):
        vmap(lambda x: {"a": [m.w]})(jnp.ones((4, 2)))
    assert m(jnp.ones((1, 2))).shape == (1, 3)


def test_a_new_object_holding_a_captured_one_names_the_captured_path() -> None:
    m = member()

    class Holder(Module):
        def __init__(self, inner: Member) -> None:
            self.inner = inner

    with pytest.raises(ValueError, match=r"(?s)  - result\.inner: Member \(captured as `m`\)"):
        vmap(lambda x: Holder(m))(jnp.ones((4, 2)))


# case 3: one object reached with two different axes -----------------------------------


def test_one_object_in_two_arguments_with_different_in_axes_is_refused() -> None:
    m = member()
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: .*different axes.*"
        r"  - args\[0\]\.w \(in_axes 0\) and args\[1\]\.w \(in_axes None\).*Fix",
    ):
        vmap(lambda a, b, x: x, in_axes=(0, None, 0))(m, m, jnp.ones((4, 2)))


def test_a_variable_and_its_owner_with_different_in_axes_are_refused() -> None:
    m = member()
    with pytest.raises(
        ValueError, match=r"(?s)  - args\[0\]\.w \(in_axes None\) and args\[1\] \(in_axes 0\)"
    ):
        vmap(lambda a, v, x: x, in_axes=(None, 0, 0))(m, m.w, jnp.ones((4, 2)))


def test_one_object_with_the_same_axes_everywhere_is_accepted() -> None:
    m = member()
    out = vmap(lambda a, b, x: a(x) + b(x), in_axes=(None, None, 0))(m, m, jnp.ones((4, 1, 2)))
    assert out.shape == (4, 1, 3)


def test_returning_an_input_on_another_axis_than_it_came_in_on_is_refused() -> None:
    m = member()
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: .*different axes.*"
        r"  - args\[0\]\.w \(in_axes None\) and result\[1\]\.w \(out_axes 0\).*"
        r"Fix: .*out_axes",
    ):
        vmap(lambda a, x: (x, a), in_axes=(None, 0), out_axes=(0, 0))(m, jnp.ones((4, 2)))


def test_returning_an_input_on_its_own_axis_gives_the_object_back() -> None:
    m = member()
    out, same = vmap(lambda a, x: (a(x), a), in_axes=(None, 0), out_axes=(0, None))(
        m, jnp.ones((4, 1, 2))
    )
    assert same is m
    assert out.shape == (4, 1, 3)


# case 9: a transformed __init__ adds state to its input ---------------------------------


class Ensemble(Module):
    @split_rngs(splits=4)
    @vmap(in_axes=(0, 0))
    def __init__(self, rngs: Rngs) -> None:
        self.w = Param(jax.random.normal(rngs.params(), (2, 3)))
        self.count = BatchStat(jnp.zeros(()))


def test_a_vmapped_init_builds_a_stacked_module() -> None:
    rngs = Rngs(0)
    ensemble = Ensemble(rngs)
    assert ensemble.w.value.shape == (4, 2, 3)
    assert ensemble.count.value.shape == (4,)
    assert not jnp.allclose(ensemble.w.value[0], ensemble.w.value[1])
    assert rngs.default.key.value.shape == ()  # split_rngs restored the stream


def test_a_vmapped_init_stacks_per_the_inputs_state_axes() -> None:
    class Shared(Module):
        @vmap(in_axes=(StateAxes({Param: 0, ...: None}), 0))
        def __init__(self, key: jax.Array) -> None:
            self.w = Param(jax.random.normal(key, (2, 3)))
            self.mean = BatchStat(jnp.zeros(3))

    shared = Shared(jax.random.split(jax.random.key(0), 4))
    assert shared.w.value.shape == (4, 2, 3)
    assert shared.mean.value.shape == (3,)


# case 10: keyword arguments take their positions' in_axes -------------------------------


def test_keyword_arguments_are_bound_to_their_in_axes_position() -> None:
    def f(x: jax.Array, y: Any) -> jax.Array:
        return x * y

    assert vmap(f, in_axes=(0, None))(jnp.ones((4, 2)), y=2.0).shape == (4, 2)
    assert vmap(f, in_axes=(0, None))(jnp.ones((4, 2)), y=jnp.ones(2)).shape == (4, 2)
    m = member()
    out = vmap(lambda x, model: model(x), in_axes=(0, None))(jnp.ones((4, 1, 2)), model=m)
    assert out.shape == (4, 1, 3)


def test_defaults_fill_the_positions_in_axes_names() -> None:
    def f(x: jax.Array, y: float = 3.0) -> jax.Array:
        return x * y

    assert jnp.allclose(vmap(f, in_axes=(0, None))(jnp.ones((4, 2))), 3.0)
    assert jnp.allclose(vmap(f, in_axes=(0,))(jnp.ones((4, 2))), 3.0)


def test_keyword_only_arguments_still_map_on_axis_0() -> None:
    def f(x: jax.Array, *, y: jax.Array) -> jax.Array:
        return x * y

    assert vmap(f, in_axes=(0,))(jnp.ones((4, 2)), y=jnp.ones((4, 2))).shape == (4, 2)


def test_a_call_that_does_not_fit_the_signature_names_the_function() -> None:
    def f(x: jax.Array, y: float) -> jax.Array:
        return x * y

    with pytest.raises(TypeError, match=r"(?s)^nnx\.vmap: .*f.*missing a required argument: 'y'"):
        vmap(f, in_axes=(0, None))(jnp.ones((4, 2)))


def test_a_bound_keyword_that_does_not_fit_the_batch_is_named_as_written() -> None:
    m = member()
    with pytest.raises(ValueError, match=r"(?s)  - model\.w: Array.*mapped on axis 0 \(size 2\)"):
        vmap(lambda x, model: model(x), in_axes=(0, 0))(jnp.ones((4, 1, 2)), model=m)


# case 11: StateAxes in out_axes, from a State, map_prefix ------------------------------


def test_state_axes_in_out_axes_stack_only_the_selected_state() -> None:
    make = vmap(Member, in_axes=0, out_axes=StateAxes({Param: 0, ...: None}))
    ensemble = make(jax.random.split(jax.random.key(0), 4))
    assert ensemble.w.value.shape == (4, 2, 3)
    assert ensemble.mean.value.shape == (3,)


def test_state_axes_in_out_axes_must_cover_the_result() -> None:
    make = vmap(Member, in_axes=0, out_axes=StateAxes({Param: 0}))
    with pytest.raises(ValueError, match=r"(?s)do not match every value.*result\.mean.*Fix"):
        make(jax.random.split(jax.random.key(0), 4))


def test_state_axes_built_from_a_state_of_axes() -> None:
    m = member()
    axes_state = jax.tree.map(lambda _: None, state(m))
    axes_state["w"] = 0
    axes = StateAxes(axes_state)
    assert axes.map_prefix(("w",), m.w) == 0
    assert axes.map_prefix(("mean",), m.mean) is None
    m.w.value = jnp.stack([m.w.value] * 4)
    out = vmap(lambda model, x: model(x), in_axes=(axes, None))(m, jnp.ones((1, 2)))
    assert out.shape == (4, 1, 3)


def test_state_axes_is_a_mapping_and_map_prefix_refuses_unmatched_values() -> None:
    axes = StateAxes({Param: 0, BatchStat: None})
    assert dict(axes.items()) == {Param: 0, BatchStat: None}
    assert axes == StateAxes([(Param, 0), (BatchStat, None)])
    assert hash(axes) == hash(StateAxes({Param: 0, BatchStat: None}))
    with pytest.raises(
        ValueError, match=r"(?s)no StateAxes filter matches.*object\.count: Array.*Fix"
    ):
        axes.map_prefix(("count",), jnp.zeros(()))


# state added inside a mapped call (sow), and batched values in broadcast state ---------


class Block(Module):
    def __init__(self, key: jax.Array) -> None:
        self.w = Param(jax.random.normal(key, (2, 2)))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x @ self.w
        self.sow(Intermediate, "h", y)
        return y


def test_sow_in_a_mapped_stack_comes_back_stacked() -> None:
    blocks = vmap(Block)(jax.random.split(jax.random.key(0), 4))
    y = vmap(lambda b, x: b(x), in_axes=(0, None))(blocks, jnp.ones((3, 2)))
    assert y.shape == (4, 3, 2)
    assert blocks.h.value[0].shape == (4, 3, 2)


def test_a_batched_value_stored_in_broadcast_state_is_named_with_the_fix() -> None:
    block = Block(jax.random.key(0))
    w = block.w.value
    with pytest.raises(
        ValueError,
        match=r"(?s)^nnx\.vmap: args\[0\]\.h varies along the mapped axis, but its in_axes is "
        r"None.*Fix: map it too: in_axes 0 for args\[0\]",
    ):
        vmap(lambda b, x: b(x), in_axes=(None, 0))(block, jnp.ones((4, 3, 2)))
    assert block.w.value is w
    assert not hasattr(block, "h")  # the failed call left the block as it was


def test_a_batched_result_under_out_axes_none_is_named() -> None:
    with pytest.raises(ValueError, match=r"(?s)^nnx\.vmap: result\[1\] varies.*Fix: out_axes=0"):
        vmap(lambda x: (x, x * 2), out_axes=(0, None))(jnp.ones((4, 2)))
