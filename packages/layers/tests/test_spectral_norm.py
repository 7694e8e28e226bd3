"""SpectralNorm against numpy: one power-iteration step from the stored ``u``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, state
from nnx_layers import Conv, Linear, SpectralNorm
from nnx_transforms import jit
from nnx_variables import BatchStat, Param, Rngs


def numpy_power_iteration(w, u, n_steps, eps=1e-12):
    w = np.asarray(w, np.float64).reshape(-1, w.shape[-1])
    u = np.asarray(u, np.float64)
    for _ in range(n_steps):
        v = u @ w.T
        v = v / np.sqrt((v * v).sum() + eps)
        u = v @ w
        u = u / np.sqrt((u * u).sum() + eps)
    sigma = (v @ w @ u.T)[0, 0]
    return u, sigma


@pytest.mark.parametrize("n_steps", [1, 4])
def test_linear_is_divided_by_the_estimated_sigma(n_steps):
    rngs = Rngs(0)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), n_steps=n_steps, rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...])
    u0 = np.asarray(layer.batch_stats[("kernel", "u")][...])
    x = jax.random.normal(jax.random.key(1), (3, 4))
    y = layer(x)
    u, sigma = numpy_power_iteration(w0, u0, n_steps)
    np.testing.assert_allclose(layer.layer_instance.kernel[...], w0 / sigma, rtol=1e-5)
    np.testing.assert_allclose(y, np.asarray(x) @ (w0 / sigma), atol=1e-5)
    np.testing.assert_allclose(layer.batch_stats[("kernel", "u")][...], u, atol=1e-6)
    np.testing.assert_allclose(layer.batch_stats[("kernel", "sigma")][...], sigma, rtol=1e-5)


def test_many_steps_reach_the_largest_singular_value():
    rngs = Rngs(0)
    layer = SpectralNorm(Conv(2, 3, (3, 3), rngs=rngs), n_steps=50, rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...]).reshape(-1, 3)
    layer(jnp.ones((1, 4, 4, 2)))
    sigma = float(layer.batch_stats[("kernel", "sigma")][...])
    np.testing.assert_allclose(sigma, np.linalg.svd(w0, compute_uv=False)[0], rtol=1e-4)
    w = np.asarray(layer.layer_instance.kernel[...]).reshape(-1, 3)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False)[0], 1.0, rtol=1e-4)


def test_state_is_u_and_sigma_batch_stats_one_key_per_matrix():
    rngs = Rngs(0)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), rngs=rngs)
    assert int(rngs.params.count.value) == 3  # kernel, bias, then u's key
    stats = state(layer, BatchStat).to_pure_dict()["batch_stats"]
    assert {k: v.shape for k, v in stats.items()} == {
        ("kernel", "u"): (1, 5),
        ("kernel", "sigma"): (),
    }
    assert "batch_stats" not in state(layer, Param).to_pure_dict()


def test_eval_and_update_stats_false_leave_the_statistics():
    rngs = Rngs(0)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), rngs=rngs)
    u0 = np.asarray(layer.batch_stats[("kernel", "u")][...])
    layer.eval()
    layer(jnp.ones((1, 4)))
    layer(jnp.ones((1, 4)), update_stats=False)
    np.testing.assert_array_equal(layer.batch_stats[("kernel", "u")][...], u0)
    jit(lambda m, x: m(x, update_stats=True))(layer, jnp.ones((1, 4)))
    assert not np.allclose(layer.batch_stats[("kernel", "u")][...], u0)


def test_non_matrix_weights_name_their_path_and_the_fix():
    rngs = Rngs(0)
    with pytest.raises(
        ValueError, match=r"(?s)layer_instance\.kernel: Param.*3, 3, 2, 3.*Fix: nnx"
    ):
        SpectralNorm(Conv(2, 3, (3, 3), rngs=rngs), error_on_non_matrix=True, rngs=rngs)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), rngs=rngs)
    layer.layer_instance.extra = Param(jnp.ones((2, 2)))
    with pytest.raises(
        RuntimeError, match=r"(?s)layer_instance\.extra.*Fix: build the SpectralNorm"
    ):
        layer(jnp.ones((1, 4)))


def test_a_bad_input_leaves_the_weights_and_statistics_alone():
    rngs = Rngs(0)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), rngs=rngs)
    before = jax.tree.map(np.asarray, state(layer).to_pure_dict())
    with pytest.raises(LayerInputError, match=r"(?s)SpectralNorm.*Fix: pass a jax\.Array"):
        layer(None)
    after = jax.tree.map(np.asarray, state(layer).to_pure_dict())
    jax.tree.map(np.testing.assert_array_equal, after, before)


def test_bf16_dtype_with_float32_params():
    rngs = Rngs(0)
    layer = SpectralNorm(Linear(4, 5, rngs=rngs), dtype=jnp.bfloat16, rngs=rngs)
    w0 = np.asarray(layer.layer_instance.kernel[...])
    u0 = np.asarray(layer.batch_stats[("kernel", "u")][...])
    layer(jnp.ones((1, 4)))
    _, sigma = numpy_power_iteration(w0, u0, 1)
    kernel = layer.layer_instance.kernel[...]
    assert kernel.dtype == jnp.bfloat16  # as flax: the weight is stored in ``dtype``
    assert layer.batch_stats[("kernel", "u")][...].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(kernel, np.float32), w0 / sigma, atol=1e-2)
