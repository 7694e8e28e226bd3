"""nnx.shard_map and StateSharding on 8 simulated CPU devices."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import PartitionSpec as P

from nnx_graph import Module, PathContains, State
from nnx_transforms import StateSharding, jit, shard_map
from nnx_variables import BatchStat, Param

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)


class MLP(Module):
    def __init__(self) -> None:
        self.w1 = Param(jnp.ones((2, 8)))
        self.w2 = Param(jnp.ones((8, 3)))
        self.count = BatchStat(jnp.zeros(()))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(x @ self.w1.value) @ self.w2.value


def mesh(name: str) -> Any:
    return jax.sharding.Mesh(jax.devices()[:8], (name,))


def test_data_parallel_with_updates_coming_out() -> None:
    m = MLP()

    @shard_map(mesh=mesh("data"), in_specs=(P(), P("data")), out_specs=P("data"))
    def f(m: MLP, x: jax.Array) -> jax.Array:
        assert x.shape == (4, 2)
        m.count.value = m.count.value + 1
        return m(x)

    y = f(m, jnp.ones((32, 2)))
    assert y.shape == (32, 3)
    assert float(y[0, 0]) == 16.0
    assert float(m.count.value) == 1.0
    f(m, jnp.ones((32, 2)))  # cached: same structure
    assert float(m.count.value) == 2.0


def test_state_sharding_gives_each_variable_its_spec() -> None:
    m = MLP()
    seen: dict[str, Any] = {}
    specs = StateSharding(
        {PathContains("w1"): P(None, "model"), PathContains("w2"): P("model", None), ...: P()}
    )

    @shard_map(mesh=mesh("model"), in_specs=(specs, P()), out_specs=P())
    def f(m: MLP, x: jax.Array) -> jax.Array:
        seen["w1"], seen["w2"] = m.w1.value.shape, m.w2.value.shape
        m.w1.value = m.w1.value * 2
        return jax.lax.psum(m(x), "model")

    y = f(m, jnp.ones((4, 2)))
    assert seen == {"w1": (2, 1), "w2": (1, 3)}
    assert float(y[0, 0]) == 32.0
    assert m.w1.value.shape == (2, 8) and float(m.w1.value[0, 0]) == 2.0
    assert m.w1.value.sharding.spec == P(None, "model")


def test_a_state_of_specs_is_a_prefix_too() -> None:
    m = MLP()
    specs = State({"w1": P(None, "model"), "w2": P("model", None), "count": P()})

    @shard_map(mesh=mesh("model"), in_specs=(specs, P()), out_specs=P())
    def f(m: MLP, x: jax.Array) -> jax.Array:
        return jax.lax.psum(m(x), "model")

    assert float(f(m, jnp.ones((4, 2)))[0, 0]) == 16.0


def test_returned_objects_and_jit_and_sharing() -> None:
    class Pair(Module):
        def __init__(self, a: MLP) -> None:
            self.a = a
            self.b = a

    m = MLP()
    pair = Pair(m)

    @jit
    @shard_map(mesh=mesh("data"), in_specs=(P(), P("data")), out_specs=P())
    def f(pair: Pair, x: jax.Array) -> Any:
        assert pair.a is pair.b
        pair.a.count.value = pair.a.count.value + 1
        return jax.lax.pmean(pair.b(x).sum(), "data")

    out = f(pair, jnp.ones((16, 2)))
    assert float(out) == 16.0 * 3 * 2
    assert pair.a is pair.b is m and float(m.count.value) == 1.0


def test_unmatched_state_sharding_names_the_path_and_fix() -> None:
    specs = StateSharding({PathContains("w1"): P()})
    f = shard_map(lambda m: m.w1.value, mesh=mesh("data"), in_specs=(specs,), out_specs=P())
    with pytest.raises(
        ValueError, match=r"args\[0\]\.w2(.|\n)*StateSharding\(\{\.\.\., \.\.\.: P\(\)\}\)"
    ):
        f(MLP())


def test_wrong_number_of_in_specs_says_so() -> None:
    f = shard_map(lambda m, x: x, mesh=mesh("data"), in_specs=(P(),), out_specs=P())
    with pytest.raises(ValueError, match=r"1 entries but(.|\n)*in_specs="):
        f(MLP(), jnp.ones(8))


def test_a_raising_call_leaves_the_object_unchanged() -> None:
    m = MLP()

    @shard_map(mesh=mesh("data"), in_specs=(P(),), out_specs=P())
    def f(m: MLP) -> Any:
        m.count.value = m.count.value + 1
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        f(m)
    assert float(m.count.value) == 0.0


def test_state_sharding_is_a_hashable_mapping() -> None:
    a = StateSharding({Param: P("x"), ...: P()})
    assert a == StateSharding([(Param, P("x")), (..., P())]) and hash(a) == hash(
        StateSharding({Param: P("x"), ...: P()})
    )
    assert a[Param] == P("x") and len(a) == 2
    with pytest.raises(ValueError, match=r"object\.w(.|\n)*catch-all"):
        StateSharding({BatchStat: P()}).map_prefix(("w",), Param(jnp.ones(())))
