"""Saved on one mesh, restored onto another: 8 devices -> a 2x4 mesh -> one device."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from nnx_checkpoint import CheckpointError, restore, save
from nnx_graph import Module, State, Variable, state
from nnx_layers import Linear
from nnx_transforms import eval_shape
from nnx_variables import Rngs, get_named_sharding, with_partitioning

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8,
    reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


class Block(Module):
    def __init__(self, spec: tuple[object, ...], mesh: Mesh | None, *, rngs: Rngs) -> None:
        init = jax.nn.initializers.lecun_normal()
        kernel_init = init if mesh is None else with_partitioning(init, spec, mesh)
        self.up = Linear(16, 32, kernel_init=kernel_init, rngs=rngs)


def test_a_checkpoint_moves_between_meshes(tmp_path: object) -> None:
    mesh8 = jax.make_mesh((8,), ("model",))
    source = Block((None, "model"), mesh8, rngs=Rngs(0))
    kernel = np.asarray(source.up.kernel.value)
    assert source.up.kernel.value.sharding.spec == PartitionSpec(None, "model")
    save(f"{tmp_path}/on8", source)

    # An abstract model built under a 2x4 mesh: nothing is initialised, and every array
    # is read straight into its shards.
    mesh24 = jax.make_mesh((2, 4), ("data", "model"))
    abstract = eval_shape(lambda: Block(("data", "model"), mesh24, rngs=Rngs(1)))
    on24 = restore(f"{tmp_path}/on8", abstract)
    value = on24.up.kernel.value
    assert isinstance(value.sharding, NamedSharding)
    assert value.sharding.mesh.shape == {"data": 2, "model": 4}
    assert value.sharding.spec == PartitionSpec("data", "model")
    assert {shard.data.shape for shard in value.addressable_shards} == {(8, 8)}
    np.testing.assert_array_equal(value, kernel)
    save(f"{tmp_path}/on24", on24)

    on1 = restore(f"{tmp_path}/on24", Block((), None, rngs=Rngs(2)))
    assert isinstance(on1.up.kernel.value.sharding, SingleDeviceSharding)
    np.testing.assert_array_equal(on1.up.kernel.value, kernel)


def test_a_target_placed_by_hand_keeps_its_shardings(tmp_path: object) -> None:
    mesh8 = jax.make_mesh((8,), ("model",))
    save(f"{tmp_path}/ckpt", Block((None, "model"), mesh8, rngs=Rngs(0)))
    mesh24 = jax.make_mesh((2, 4), ("data", "model"))
    target = state(Block((), None, rngs=Rngs(1)))
    shardings = jax.tree.map(
        lambda _: NamedSharding(mesh24, PartitionSpec("model")), get_named_sharding(target, mesh24)
    )
    target = jax.device_put(target, shardings)
    restored = restore(f"{tmp_path}/ckpt", target)
    assert restored["up"]["bias"].value.sharding.spec == PartitionSpec("model")


def test_an_abstract_mesh_needs_a_concrete_one(tmp_path: object) -> None:
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    save(f"{tmp_path}/ckpt", State({"w": Variable(jax.numpy.arange(8.0))}))
    abstract_mesh = mesh.abstract_mesh
    assert isinstance(abstract_mesh, AbstractMesh)
    sharding = NamedSharding(abstract_mesh, PartitionSpec("model"))

    def target() -> State:
        return State({"w": Variable(jax.ShapeDtypeStruct((8,), np.float32, sharding=sharding))})

    with pytest.raises(CheckpointError, match=r"state\.w: .*abstract mesh(.|\n)*jax\.set_mesh"):
        restore(f"{tmp_path}/ckpt", target())
    with jax.set_mesh(mesh):
        restored = restore(f"{tmp_path}/ckpt", target())
    assert restored["w"].value.sharding.mesh == mesh
    np.testing.assert_array_equal(restored["w"].value, np.arange(8.0))
