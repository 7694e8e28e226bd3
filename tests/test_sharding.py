"""A model sharded over a 2x4 device mesh trains like the same model on one device.

Runs on 8 simulated CPU devices: the Makefile exports
XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax starts.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import nnx

pytestmark = pytest.mark.skipif(
    len(jax.devices()) < 8,
    reason=f"needs 8 devices, {len(jax.devices())} visible: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)

IN, HIDDEN, OUT, BATCH = 4, 8, 2, 8


def make_mesh():
    # Auto axes: XLA propagates shardings, and with_sharding_constraint may name them.
    return jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)


class MLP(nnx.Module):
    def __init__(self, rngs):
        lecun = nnx.initializers.lecun_normal()
        self.linear1 = nnx.Linear(
            IN, HIDDEN, kernel_init=nnx.with_partitioning(lecun, (None, "model")), rngs=rngs
        )
        self.linear2 = nnx.Linear(
            HIDDEN, OUT, kernel_init=nnx.with_partitioning(lecun, ("model", None)), rngs=rngs
        )

    def __call__(self, x):
        return self.linear2(nnx.relu(self.linear1(x)))


def loss_fn(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def plain_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


def constrained_step(model, optimizer, x, y):
    loss = plain_step(model, optimizer, x, y)
    # Pin every leaf (biases too, which carry no metadata) to its declared layout, instead
    # of leaving the output layout to XLA's propagation.
    state = nnx.state(model)
    nnx.update(model, jax.lax.with_sharding_constraint(state, nnx.get_named_sharding(state, MESH)))
    return loss


MESH = make_mesh() if len(jax.devices()) >= 8 else None


def batch():
    x = jax.random.normal(jax.random.key(1), (BATCH, IN))
    y = jax.random.normal(jax.random.key(2), (BATCH, OUT))
    return x, y


@functools.cache  # tests only read the results; training once per setup keeps this fast
def train(step, *, sharded, steps=2):
    model = MLP(nnx.Rngs(0))
    x, y = batch()
    if sharded:
        state = nnx.state(model)
        nnx.update(model, jax.device_put(state, nnx.get_named_sharding(state, MESH)))
        x, y = jax.device_put((x, y), NamedSharding(MESH, P("data")))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3))
    jitted = nnx.jit(step)
    losses = [jitted(model, optimizer, x, y) for _ in range(steps)]
    return model, optimizer, losses


def spec(array):
    """``array.sharding.spec`` padded with None: jax drops trailing replicated entries."""
    entries = tuple(array.sharding.spec)
    return P(*entries, *(None,) * (array.ndim - len(entries)))


def test_metadata_reaches_the_layers_state():
    state = nnx.state(MLP(nnx.Rngs(0)))
    specs = nnx.get_partition_spec(state)
    assert specs.linear1.kernel.value == P(None, "model")
    assert specs.linear2.kernel.value == P("model", None)
    assert specs.linear1.bias.value == P()
    assert state.linear1.kernel.out_sharding == (None, "model")


def test_device_put_shards_the_state_across_the_mesh():
    model = MLP(nnx.Rngs(0))
    state = nnx.state(model)
    sharded = jax.device_put(state, nnx.get_named_sharding(state, MESH))
    nnx.update(model, sharded)
    kernel = model.linear1.kernel.value
    assert kernel.sharding.mesh.shape == MESH.shape and spec(kernel) == P(None, "model")
    assert {shard.data.shape for shard in kernel.addressable_shards} == {(IN, HIDDEN // 4)}
    assert spec(model.linear1.bias.value) == P(None)
    np.testing.assert_array_equal(kernel, nnx.state(MLP(nnx.Rngs(0))).linear1.kernel.value)


@pytest.mark.parametrize("step", [plain_step, constrained_step], ids=["plain", "constrained"])
def test_sharded_step_matches_one_device(step):
    single, single_opt, single_losses = train(step, sharded=False)
    model, optimizer, losses = train(step, sharded=True)
    np.testing.assert_allclose(losses, single_losses, rtol=1e-5)
    assert losses[1] < losses[0]
    for path, value in nnx.state(model).flat_dict().items():
        expected = nnx.state(single).flat_dict()[path].value
        np.testing.assert_allclose(value.value, expected, rtol=1e-5, atol=1e-6, err_msg=str(path))
    assert int(optimizer.step.value) == int(single_opt.step.value) == 2


@pytest.mark.parametrize("step", [plain_step, constrained_step], ids=["plain", "constrained"])
def test_kernels_stay_sharded_as_declared_after_the_step(step):
    model, _, _ = train(step, sharded=True)
    assert spec(model.linear1.kernel.value) == P(None, "model")
    assert spec(model.linear2.kernel.value) == P("model", None)
    assert model.linear1.kernel.out_sharding == (None, "model")  # the metadata survives jit


def test_constraint_keeps_unannotated_params_replicated():
    model, _, _ = train(constrained_step, sharded=True)
    assert spec(model.linear1.bias.value) == P(None)
    assert spec(model.linear2.bias.value) == P(None)


def test_optimizer_state_of_a_sharded_param_is_sharded_the_same_way():
    model, optimizer, _ = train(plain_step, sharded=True)
    adam = optimizer.opt_state[0]
    for moments in (adam.mu, adam.nu):
        assert spec(moments["linear1"]["kernel"].value) == P(None, "model")
        assert spec(moments["linear2"]["kernel"].value) == P("model", None)
    assert spec(model.linear1.kernel.value) == P(None, "model")


def test_activations_constrained_inside_the_step():
    model = MLP(nnx.Rngs(0))
    state = nnx.state(model)
    nnx.update(model, jax.device_put(state, nnx.get_named_sharding(state, MESH)))
    x, _ = batch()

    @nnx.jit
    def hidden(model, x):
        h = model.linear1(x)
        return jax.lax.with_sharding_constraint(h, NamedSharding(MESH, P("data", "model")))

    out = hidden(model, jax.device_put(x, NamedSharding(MESH, P("data"))))
    assert spec(out) == P("data", "model")
    assert {shard.data.shape for shard in out.addressable_shards} == {(BATCH // 2, HIDDEN // 4)}
    np.testing.assert_allclose(out, MLP(nnx.Rngs(0)).linear1(x), rtol=1e-5, atol=1e-6)


def test_model_built_under_jit_is_born_sharded():
    lecun = nnx.initializers.lecun_normal()

    @nnx.jit
    def create():
        init = nnx.with_partitioning(lecun, (None, "model"), mesh=MESH)
        return nnx.Linear(IN, HIDDEN, kernel_init=init, rngs=nnx.Rngs(0))

    layer = create()
    assert spec(layer.kernel.value) == P(None, "model")
    assert layer.kernel.mesh is MESH
    np.testing.assert_array_equal(
        layer.kernel.value, nnx.Linear(IN, HIDDEN, kernel_init=lecun, rngs=nnx.Rngs(0)).kernel.value
    )


def test_optimizer_moments_carry_their_parameters_sharding_metadata() -> None:
    model = nnx.Linear(
        4,
        8,
        kernel_init=nnx.with_partitioning(nnx.initializers.lecun_normal(), (None, "model")),
        rngs=nnx.Rngs(0),
    )
    optimizer = nnx.Optimizer(model, optax.adam(1e-3))
    specs = nnx.get_partition_spec(nnx.state(optimizer, nnx.OptState)).flat_dict()
    adam = optimizer.opt_state[0]
    assert adam.mu["kernel"].out_sharding == (None, "model")
    assert adam.nu["kernel"].out_sharding == (None, "model")
    assert "out_sharding" not in adam.mu["bias"].get_metadata()
    assert any(spec.value == jax.sharding.PartitionSpec(None, "model") for spec in specs.values())


# -- nnx.jit's in_shardings / out_shardings, per argument ---------------------------------


def _pass_through(model, x):
    """Returns its inputs: their layout inside the call shows in the outputs."""
    return model.linear1.kernel.value, model.linear2.kernel.value, model.linear1.bias.value, x


def _fresh():
    model = MLP(nnx.Rngs(0))
    x, _ = batch()
    return model, x


def test_jit_in_shardings_lay_out_each_variable_of_an_object_argument():
    model, x = _fresh()
    shardings = (nnx.get_named_sharding(nnx.state(model), MESH), NamedSharding(MESH, P("data")))
    kernel1, kernel2, bias, x_out = nnx.jit(_pass_through, in_shardings=shardings)(model, x)

    assert spec(kernel1) == P(None, "model")
    assert spec(kernel2) == P("model", None)
    assert spec(bias) == P(None)
    assert spec(x_out) == P("data", None)
    np.testing.assert_array_equal(kernel1, model.linear1.kernel.value)
    np.testing.assert_array_equal(x_out, x)


def test_jit_in_shardings_none_leaves_an_argument_unspecified_and_skips_statics():
    model, x = _fresh()

    def scaled(scale, model, x):
        kernel1, _, _, x = _pass_through(model, x)
        return kernel1, x * scale

    jitted = nnx.jit(scaled, static_argnums=0, in_shardings=(None, NamedSharding(MESH, P("data"))))
    kernel1, x_out = jitted(3.0, model, x)

    assert spec(x_out) == P("data", None)
    assert kernel1.sharding.is_fully_replicated  # unspecified: where the arrays already live
    np.testing.assert_allclose(x_out, x * 3.0)


def test_jit_in_shardings_with_donated_arguments():
    model, x = _fresh()
    shardings = (nnx.get_named_sharding(nnx.state(model), MESH), None)
    jitted = nnx.jit(_pass_through, in_shardings=shardings, donate_argnums=1)
    kernel1, _, _, x_out = jitted(model, x * 1.0)
    assert spec(kernel1) == P(None, "model")
    np.testing.assert_array_equal(x_out, x)


@pytest.mark.parametrize("mesh", ["auto", "explicit"])
def test_jit_out_shardings_prefix_lays_out_plain_outputs(mesh):
    mesh = MESH if mesh == "auto" else jax.make_mesh((2, 4), ("data", "model"))
    x, _ = batch()
    counter = nnx.BatchNorm(IN, rngs=nnx.Rngs(0))

    @functools.partial(nnx.jit, out_shardings=(NamedSharding(mesh, P("data")), None))
    def both(counter, x):
        return counter(x), jnp.sum(x)

    with jax.set_mesh(mesh):  # explicit axes are resharded, which needs the mesh in context
        normalised, total = both(counter, x)
    assert spec(normalised) == P("data", None)
    np.testing.assert_allclose(total, jnp.sum(x), rtol=1e-6)
    assert float(jnp.abs(counter.mean.value).sum()) > 0  # the object's update came back


def test_jit_out_shardings_for_a_returned_object_is_refused():
    model, _ = _fresh()
    jitted = nnx.jit(lambda model: (model,), out_shardings=(NamedSharding(MESH, P()),))
    with pytest.raises(ValueError, match="returned objects keep the layout"):
        jitted(model)


@pytest.mark.parametrize(
    ("in_shardings", "error", "words"),
    [
        ("everything", TypeError, "one entry per positional argument"),
        ((None, None, None), ValueError, "3 entries for 2 positional arguments"),
        ((None, (None, None)), ValueError, "does not fit"),
        ((nnx.State({}), None), ValueError, r"no sharding for args\[0\]\.linear1\.bias"),
        ((None, nnx.State({})), ValueError, "not an object"),
    ],
    ids=["not a tuple", "too many", "wrong structure", "State missing a path", "State for data"],
)
def test_jit_in_shardings_that_do_not_fit_are_named(in_shardings, error, words):
    model, x = _fresh()
    before = jax.tree.map(np.asarray, nnx.state(model).to_pure_dict())
    with pytest.raises(error, match=words):
        nnx.jit(lambda model, x: model(x), in_shardings=in_shardings)(model, x)
    jax.tree.map(np.testing.assert_array_equal, before, nnx.state(model).to_pure_dict())
