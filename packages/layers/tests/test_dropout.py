import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module, merge, split
from nnx_layers import Dropout
from nnx_variables import Rngs


def expected_mask(key, rate, shape):
    return jax.random.bernoulli(key, 1.0 - rate, shape)


def test_keeps_a_reference_to_rngs_and_draws_one_dropout_key_per_call():
    rngs = Rngs(0, dropout=5)
    dropout = Dropout(0.3, rngs=rngs)
    assert dropout.rngs is rngs
    x = jnp.arange(1.0, 13.0).reshape(3, 4)
    y = dropout(x)
    key = jax.random.fold_in(jax.random.key(5), 0)
    keep = expected_mask(key, 0.3, x.shape)
    np.testing.assert_allclose(y, jnp.where(keep, x / 0.7, 0.0), rtol=1e-6)
    assert int(rngs.dropout.count.value) == 1
    assert int(rngs.default.count.value) == 0


def test_falls_back_to_default_stream():
    rngs = Rngs(7)
    x = jnp.ones((16,))
    y = Dropout(0.5, rngs=rngs)(x)
    keep = expected_mask(jax.random.fold_in(jax.random.key(7), 0), 0.5, x.shape)
    np.testing.assert_array_equal(y, jnp.where(keep, 2.0, 0.0))
    assert int(rngs.default.count.value) == 1


def test_new_mask_each_call():
    dropout = Dropout(0.5, rngs=Rngs(0))
    x = jnp.ones((64,))
    assert not np.array_equal(dropout(x), dropout(x))


def test_deterministic_and_rate_zero_are_identity():
    x = jnp.arange(4.0)
    rngs = Rngs(0)
    assert Dropout(0.5, deterministic=True, rngs=rngs)(x) is x
    assert Dropout(0.0, rngs=rngs)(x) is x
    assert Dropout(0.5, rngs=rngs)(x, deterministic=True) is x
    assert int(rngs.default.count.value) == 0


def test_call_argument_overrides_constructor_flag():
    dropout = Dropout(0.5, deterministic=True, rngs=Rngs(0))
    y = dropout(jnp.ones((32,)), deterministic=False)
    assert set(np.asarray(y).tolist()) <= {0.0, 2.0}


def test_rate_one_gives_zeros_and_finite_gradients():
    dropout = Dropout(1.0, rngs=Rngs(0))
    x = jnp.ones((3,))
    np.testing.assert_array_equal(dropout(x), jnp.zeros(3))
    grad = jax.grad(lambda x: jnp.sum(dropout(x)))(x)
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_gradient_is_mask_over_keep_rate():
    dropout = Dropout(0.25)
    x = jnp.ones((10,))
    key = jax.random.key(1)
    grad = jax.grad(lambda x: jnp.sum(dropout(x, rngs=key)))(x)
    keep = expected_mask(key, 0.25, x.shape)
    np.testing.assert_allclose(grad, jnp.where(keep, 1 / 0.75, 0.0), rtol=1e-6)


def test_rngs_passed_to_call_take_precedence():
    own = Rngs(0)
    dropout = Dropout(0.5, rngs=own)
    other = Rngs(dropout=3)
    x = jnp.ones((8,))
    y = dropout(x, rngs=other)
    keep = expected_mask(jax.random.fold_in(jax.random.key(3), 0), 0.5, x.shape)
    np.testing.assert_array_equal(y, jnp.where(keep, 2.0, 0.0))
    assert int(own.default.count.value) == 0


def test_key_or_stream_passed_to_call():
    dropout = Dropout(0.5)
    x = jnp.ones((8,))
    key = jax.random.key(11)
    np.testing.assert_array_equal(
        dropout(x, rngs=key), jnp.where(expected_mask(key, 0.5, x.shape), 2.0, 0.0)
    )
    stream = Rngs(dropout=2).dropout
    y = dropout(x, rngs=stream)
    keep = expected_mask(jax.random.fold_in(jax.random.key(2), 0), 0.5, x.shape)
    np.testing.assert_array_equal(y, jnp.where(keep, 2.0, 0.0))


def test_broadcast_dims_share_the_mask():
    dropout = Dropout(0.5, broadcast_dims=(0,), rngs=Rngs(0))
    y = np.asarray(dropout(jnp.ones((5, 6))))
    assert (y == y[0]).all()


def test_split_merge_copy_draws_the_same_mask():
    model = Dropout(0.5, rngs=Rngs(0))
    copy = merge(*split(model), copy=True)
    x = jnp.ones((16,))
    np.testing.assert_array_equal(copy(x), model(x))


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.5", True])
def test_rate_out_of_range_is_rejected(rate):
    with pytest.raises(ValueError, match=r"rate must be a probability in \[0, 1\](.|\n)*Fix"):
        Dropout(rate)


def test_bad_rngs_type_is_rejected():
    with pytest.raises(TypeError, match=r"rngs must be an nnx.Rngs, got 0\.(.|\n)*Fix"):
        Dropout(0.1, rngs=0)


def test_training_without_rngs_explains_the_options():
    with pytest.raises(
        LayerInputError,
        match=r"Dropout: in training mode \(rate=0.1\) Dropout needs random keys(.|\n)*"
        r"1\. build it with an Rngs(.|\n)*2\. pass one to the call(.|\n)*3\. turn it off",
    ):
        Dropout(0.1)(jnp.ones(3))


def test_missing_rngs_error_names_the_path():
    class Model(Module):
        def __init__(self):
            self.drop = Dropout(0.1)

        def __call__(self, x):
            return self.drop(x)

    with pytest.raises(LayerInputError, match=r"^model\.drop \(Dropout\): in training mode"):
        Model()(jnp.ones(3))


def test_bad_call_rngs_is_rejected():
    with pytest.raises(LayerInputError, match=r"rngs must be an nnx.Rngs(.|\n)*Fix: dropout"):
        Dropout(0.1)(jnp.ones(3), rngs=jnp.ones(2))


@pytest.mark.skipif(len(jax.devices()) < 8, reason="needs 8 devices (XLA_FLAGS as make does)")
@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "nnx.jit"])
@pytest.mark.parametrize("broadcast_dims", [(), (0,), (-1,)])
def test_an_input_sharded_over_an_explicit_mesh_keeps_its_sharding(jitted, broadcast_dims):
    # flax 0.12: under an Explicit mesh the mask must carry the input's sharding, or
    # ``select`` refuses operands sharded differently.
    from jax.sharding import AxisType, PartitionSpec

    from nnx_transforms import jit

    mesh = jax.make_mesh((2, 4), ("a", "b"), axis_types=(AxisType.Explicit,) * 2)
    dropout = Dropout(0.5, broadcast_dims=broadcast_dims, rngs=Rngs(0))
    with jax.set_mesh(mesh):
        x = jax.device_put(jnp.ones((8, 16)), PartitionSpec("a", "b"))
        y = jit(lambda d, x: d(x))(dropout, x) if jitted else dropout(x)
        assert jax.typeof(y).sharding.spec == PartitionSpec("a", "b")
    assert y.sharding == x.sharding
    kept = np.asarray(y) != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(np.asarray(y)[kept], 2.0)
