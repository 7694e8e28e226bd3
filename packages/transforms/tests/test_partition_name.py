"""transform_metadata={PARTITION_NAME: name}: the mapped axis in sharding metadata."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module
from nnx_transforms import PARTITION_NAME, Carry, pmap, scan, transform_metadata, vmap
from nnx_variables import Param


class Layer(Module):
    def __init__(self, key: jax.Array) -> None:
        self.w = Param(jax.random.normal(key, (2, 3)), sharding=("a", "b"))
        self.b = Param(jnp.zeros((3,)))


def make_stack(n: int = 4) -> Layer:
    seen: list[Any] = []

    @vmap(in_axes=0, out_axes=0, transform_metadata={PARTITION_NAME: "layers"})
    def make(key: jax.Array) -> Layer:
        layer = Layer(key)
        seen.append(layer.w.get_metadata()["out_sharding"])
        return layer

    stack = make(jax.random.split(jax.random.key(0), n))
    assert seen == [("a", "b")]
    return stack


def test_vmap_adds_the_name_to_objects_built_inside() -> None:
    assert PARTITION_NAME == "partition_name"
    stack = make_stack()
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "a", "b")
    assert "out_sharding" not in stack.b.get_metadata()


def test_vmap_removes_it_on_the_way_in_and_restores_it() -> None:
    stack = make_stack()
    seen: list[Any] = []

    @vmap(in_axes=(0, None), out_axes=0, transform_metadata={PARTITION_NAME: "layers"})
    def apply(layer: Layer, x: jax.Array) -> jax.Array:
        seen.append(layer.w.get_metadata()["out_sharding"])
        return x @ layer.w.value

    assert apply(stack, jnp.ones((2,))).shape == (4, 3)
    assert seen == [("a", "b")]
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "a", "b")


def test_scan_over_a_stack() -> None:
    stack = make_stack()
    seen: list[Any] = []

    @scan(in_axes=(Carry, 0), out_axes=Carry, transform_metadata={PARTITION_NAME: "layers"})
    def run(x: jax.Array, layer: Layer) -> jax.Array:
        seen.append(layer.w.get_metadata()["out_sharding"])
        return x + (jnp.ones((2,)) @ layer.w.value).sum()

    run(jnp.zeros(()), stack)
    assert seen == [("a", "b")]
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "a", "b")


def test_hooks_are_called() -> None:
    calls: list[Any] = []

    class Hooked(Module):
        def __init__(self) -> None:
            self.w = Param(
                jnp.ones((4, 2)),
                on_add_axis=lambda v, i, name: calls.append(("add", i, name)),
                on_remove_axis=lambda v, i, name: calls.append(("remove", i, name)),
            )

    m = Hooked()
    vmap(lambda m: m.w.value.sum(), transform_metadata={PARTITION_NAME: "p"})(m)
    assert calls == [("remove", 0, "p"), ("add", 0, "p")]


@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 simulated devices")
def test_pmap_takes_it_too() -> None:
    make = pmap(Layer, transform_metadata={PARTITION_NAME: "devices"})
    stack = make(jax.random.split(jax.random.key(0), 8))
    assert stack.w.get_metadata()["out_sharding"] == ("devices", "a", "b")


def test_a_mismatched_name_is_refused_naming_the_variable_and_fix() -> None:
    stack = make_stack()
    f = vmap(lambda m: m.w.value.sum(), transform_metadata={PARTITION_NAME: "other"})
    with pytest.raises(
        ValueError, match=r"args\[0\]\.w: out_sharding=\('layers', 'a', 'b'\)(.|\n)*set_metadata"
    ):
        f(stack)
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "a", "b")


def test_transform_metadata_as_a_decorator_restores_the_axis_even_after_an_error():
    class Stack(Module):
        def __init__(self):
            self.w = Param(jnp.ones((4, 2)), sharding=("layers", "model"))

    stack, seen = Stack(), []

    @transform_metadata(partition="layers")
    def body(stack):
        seen.append(stack.w.get_metadata()["out_sharding"])
        return stack

    body(stack)
    assert seen == [("model",)]
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "model")

    @transform_metadata(partition="layers")
    def fails(stack):
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        fails(stack)
    assert stack.w.get_metadata()["out_sharding"] == ("layers", "model")


class Tied(Module):
    def __init__(self) -> None:
        self.a = Param(jnp.ones((4, 2)), sharding=("layers", "model"))
        self.b = self.a


def test_transform_metadata_in_tree_mode_refuses_shared_arguments_naming_both_paths() -> None:
    seen: list[Any] = []

    def body(m: Tied) -> None:
        seen.append(m.a.get_metadata()["out_sharding"])

    with pytest.raises(
        ValueError, match=r"(?s)nnx\.transform_metadata: tree mode.*args\[0\]\.a and args\[0\]\.b"
    ):
        transform_metadata(body, partition="layers", graph=False)(Tied())
    assert seen == []
    transform_metadata(partition="layers", graph=True)(body)(Tied())  # graph mode: shared is fine
    assert seen == [("model",)]
    tree = Tied()
    del tree.b
    transform_metadata(body, partition="layers", graph=False)(tree)
    assert seen[-1] == ("model",) and tree.a.get_metadata()["out_sharding"] == ("layers", "model")
