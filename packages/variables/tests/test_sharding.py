"""Sharding metadata: with_metadata / with_partitioning, and the spec and sharding trees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import nnx_graph as ng
from nnx_variables import (
    BatchStat,
    Param,
    VariableMetadata,
    get_named_sharding,
    get_partition_spec,
    with_metadata,
    with_partitioning,
)

KEY = jax.random.key(0)
needs_2_devices = pytest.mark.skipif(
    len(jax.devices()) < 2,
    reason="needs several devices: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


def normal(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype)


class Block(ng.Module):
    def __init__(self, kernel_sharding=(None, "model")):
        self.kernel = Param(with_partitioning(normal, kernel_sharding)(KEY, (2, 4)))
        self.bias = Param(jnp.zeros(4))
        self.count = BatchStat(jnp.array(0))


def mesh_1d(name="model", axis_type=AxisType.Auto):
    return jax.make_mesh((1,), (name,), axis_types=(axis_type,))


# -- the box and with_metadata ----------------------------------------------------------


@pytest.mark.parametrize("kind", [ng.Variable, Param, BatchStat], ids=lambda k: k.__name__)
def test_every_kind_unboxes_metadata(kind):
    variable = kind(VariableMetadata(jnp.ones(3), {"sharding": ("x",), "note": 1}))
    assert isinstance(variable.value, jax.Array)
    assert variable.get_metadata() == {"out_sharding": ("x",), "note": 1}


def test_constructor_metadata_wins_over_the_box():
    variable = Param(VariableMetadata(jnp.ones(3), {"note": "box", "kept": True}), note="call")
    assert variable.note == "call"
    assert variable.kept is True


def test_with_metadata_keeps_the_initializer_output_and_name():
    init = with_metadata(normal, description="kernel")
    boxed = init(KEY, (2, 3))
    assert isinstance(boxed, VariableMetadata)
    np.testing.assert_array_equal(boxed.raw_value, normal(KEY, (2, 3)))
    assert init.__name__ == "normal"
    assert "description='kernel'" in repr(boxed)
    assert Param(boxed).description == "kernel"


def test_boxed_variable_still_refuses_a_variable_value():
    with pytest.raises(
        TypeError, match=r"was given a Variable.*\n.*\nFix: Param\(variable.value\)"
    ):
        Param(VariableMetadata(Param(jnp.ones(2)), {}))


@pytest.mark.parametrize("wrap", [with_metadata, lambda i: with_partitioning(i, (None,))])
def test_initializer_must_be_callable(wrap):
    with pytest.raises(TypeError, match=r"(?s)initializer must be callable, got Array.*Fix: with_"):
        wrap(jnp.ones(2))


# -- with_partitioning ------------------------------------------------------------------


def test_with_partitioning_records_sharding_and_extra_metadata():
    init = with_partitioning(normal, [None, ("data", "model")], role="kernel")
    variable = Param(init(KEY, (2, 4)))
    assert variable.out_sharding == (None, ("data", "model"))
    assert variable.role == "kernel"
    assert "mesh" not in variable.get_metadata()
    np.testing.assert_array_equal(variable.value, normal(KEY, (2, 4)))


def test_with_partitioning_accepts_a_partition_spec():
    init = with_partitioning(normal, PartitionSpec("model", None))
    assert Param(init(KEY, (4, 2))).out_sharding == ("model", None)


def test_sharding_survives_split_merge_and_state_round_trips():
    model = Block()
    graphdef, params, rest = ng.split(model, Param, ...)
    assert params.kernel.out_sharding == (None, "model")
    assert params.kernel.get_metadata() == {"out_sharding": (None, "model")}
    rebuilt = ng.merge(graphdef, params, rest, copy=True)
    assert rebuilt.kernel.out_sharding == (None, "model")
    doubled = jax.tree.map(lambda x: x * 2, params)
    ng.update(model, doubled)
    assert model.kernel.out_sharding == (None, "model")
    np.testing.assert_array_equal(model.kernel.value, rebuilt.kernel.value * 2)


def test_with_partitioning_places_the_value_when_given_a_mesh():
    mesh = mesh_1d()
    init = with_partitioning(normal, (None, "model"), mesh=mesh)
    variable = Param(init(KEY, (2, 4)))
    assert variable.mesh is mesh
    assert variable.value.sharding == NamedSharding(mesh, PartitionSpec(None, "model"))


@needs_2_devices
@pytest.mark.parametrize("axis_type", [AxisType.Auto, AxisType.Explicit])
def test_with_partitioning_constrains_traced_values(axis_type):
    # Two devices: on a one-device mesh jax reports every placement as P().
    mesh = jax.make_mesh((2,), ("model",), axis_types=(axis_type,), devices=jax.devices()[:2])
    init = with_partitioning(normal, (None, "model"), mesh=mesh)
    with jax.set_mesh(mesh):  # jit over Explicit axes needs the mesh in context
        value = jax.jit(lambda key: Param(init(key, (2, 4))).value)(KEY)
    assert value.sharding.spec == PartitionSpec(None, "model")
    np.testing.assert_allclose(value, normal(KEY, (2, 4)))


def test_a_string_sharding_is_refused_with_the_tuple_spelling():
    with pytest.raises(
        TypeError, match=r"got 'model'.*\n.*\nFix: with_partitioning\(init, \('model',\)\)"
    ):
        with_partitioning(normal, "model")


def test_sharding_entries_must_be_axis_names():
    with pytest.raises(TypeError, match=r"  - 3 is not a str.*\n  - \('a', 1\) is not.*\nFix: "):
        with_partitioning(normal, (3, ("a", 1), None))


def test_sharding_axes_must_exist_and_be_used_once():
    mesh = mesh_1d()
    with pytest.raises(
        ValueError, match=r"(?s)'model' is used more than once.*no axis 'data'.*Fix"
    ):
        with_partitioning(normal, ("model", ("data", "model")), mesh=mesh)


def test_mesh_must_be_a_mesh():
    with pytest.raises(
        TypeError, match=r"(?s)mesh must be a jax.sharding.Mesh or None, got 'model'.*Fix: "
    ):
        with_partitioning(normal, (None,), mesh="model")


def test_sharding_longer_than_the_value_is_refused_when_placed():
    init = with_partitioning(normal, (None, "model", None))
    with (
        jax.set_mesh(mesh_1d()),
        pytest.raises(
            ValueError,
            match=r"names 3 dimensions but the value is Array\(shape=\(2, 4\).*"
            r"\n.*\nFix: with_partitioning\(init, \(None, 'model'\)\)",
        ),
    ):
        Param(init(KEY, (2, 4)))


def test_a_flat_value_reshaped_before_the_variable_takes_the_longer_sharding():
    # LinearGeneral draws a flat kernel and reshapes it, as flax does.
    boxed = with_partitioning(normal, (None, "model", None))(KEY, (2, 12))
    value, metadata = boxed.__nnx_unbox__()
    param = Param(jnp.reshape(value, (2, 4, 3)), **metadata)
    assert param.out_sharding == (None, "model", None)


# -- get_partition_spec / get_named_sharding --------------------------------------------


def test_get_partition_spec_keeps_the_state_structure():
    state = ng.state(Block())
    specs = get_partition_spec(state)
    assert isinstance(specs, ng.State)
    assert specs.kernel.value == PartitionSpec(None, "model")
    assert specs.kernel.type is Param and specs.kernel.out_sharding == (None, "model")
    assert specs.bias.value == PartitionSpec()
    assert specs.count.value == PartitionSpec()
    assert jax.tree.structure(specs) == jax.tree.structure(state)


def test_get_partition_spec_on_plain_pytrees_and_variables():
    tree = {"a": jnp.ones(2), "v": Param(jnp.ones((2, 4)), sharding=("model",))}
    specs = get_partition_spec(tree)
    assert specs["a"] == PartitionSpec()
    assert isinstance(specs["v"], Param) and specs["v"].value == PartitionSpec("model")


@pytest.mark.parametrize("fn", [get_partition_spec, lambda m: get_named_sharding(m, mesh_1d())])
def test_a_module_is_refused_with_the_state_spelling(fn):
    with pytest.raises(
        TypeError, match=r"got the Block object itself.*\n.*\nFix: nnx.get_\w+\(nnx.state"
    ):
        fn(Block())


def test_get_named_sharding_places_state_with_device_put():
    mesh = mesh_1d()
    model = Block()
    state = ng.state(model)
    shardings = get_named_sharding(state, mesh)
    assert shardings.kernel.value == NamedSharding(mesh, PartitionSpec(None, "model"))
    ng.update(model, jax.device_put(state, shardings))
    assert model.kernel.value.sharding.spec == PartitionSpec(None, "model")
    assert model.kernel.out_sharding == (None, "model")


def test_get_named_sharding_needs_a_mesh():
    with pytest.raises(
        TypeError, match=r"mesh must be a jax.sharding.Mesh, got tuple.*\nFix: mesh ="
    ):
        get_named_sharding(ng.state(Block()), ("model",))


def test_get_named_sharding_reports_every_misfit_with_its_path():
    mesh = mesh_1d("data")
    state = ng.State(
        {
            "enc": {"kernel": Param(jnp.ones((2, 4)), sharding=(None, "model")).to_state()},
            "bias": Param(jnp.ones(4), sharding=("data", None)).to_state(),
        }
    )
    with pytest.raises(ValueError, match=r"does not fit the mesh") as info:
        get_named_sharding(state, mesh)
    text = str(info.value)
    assert (
        "state.enc.kernel: Array(shape=(2, 4), dtype=float32) with sharding (None, 'model')" in text
    )
    assert "mesh has no axis 'model'" in text
    assert "state.bias: Array(shape=(4,), dtype=float32)" in text and "2 entries for 1" in text
    assert "Fix: fix the with_partitioning" in text


@needs_2_devices
def test_get_named_sharding_reports_indivisible_dimensions():
    mesh = jax.make_mesh((2,), ("model",), devices=jax.devices()[:2])
    state = ng.State({"w": Param(jnp.ones((3, 5)), sharding=(None, "model")).to_state()})
    with pytest.raises(
        ValueError,
        match=r"state.w: .*dimension 1 \(size 5\) is not divisible by 2 \(mesh axes 'model'\)",
    ):
        get_named_sharding(state, mesh)
