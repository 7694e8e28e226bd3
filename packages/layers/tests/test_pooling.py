"""Pooling against windows reduced one by one in numpy."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_layers import avg_pool, max_pool, min_pool, pool


def windows(x, window, strides, pads, fill):
    """Every window of ``x`` (batch, *spatial, features) as a list, row-major over outputs."""
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    out_shape = [(padded.shape[1 + i] - window[i]) // strides[i] + 1 for i in range(len(window))]
    for idx in itertools.product(*map(range, out_shape)):
        sl = tuple(slice(i * s, i * s + w) for i, s, w in zip(idx, strides, window, strict=True))
        yield idx, padded[(slice(None), *sl, slice(None))]


CASES = [
    ((2,), (1,), ((0, 0),)),
    ((2, 3), (2, 1), ((1, 0), (1, 1))),
    ((3, 2), (1, 2), ((0, 0), (0, 1))),
]


@pytest.mark.parametrize(("window", "strides", "pads"), CASES)
@pytest.mark.parametrize(
    ("fn", "fill", "reduce"), [(max_pool, -np.inf, np.max), (min_pool, np.inf, np.min)]
)
def test_max_min_pool(window, strides, pads, fn, fill, reduce):
    x = np.asarray(jax.random.normal(jax.random.key(0), (2, *[5] * len(window), 3)))
    y = fn(jnp.asarray(x), window, strides, pads)
    for idx, w in windows(x, window, strides, pads, fill):
        axes = tuple(range(1, 1 + len(window)))
        np.testing.assert_allclose(y[(slice(None), *idx)], reduce(w, axis=axes), rtol=1e-6)


@pytest.mark.parametrize(("window", "strides", "pads"), CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool(window, strides, pads, count_include_pad):
    x = np.asarray(jax.random.normal(jax.random.key(0), (2, *[5] * len(window), 3)))
    y = avg_pool(jnp.asarray(x), window, strides, pads, count_include_pad)
    real = np.ones_like(x)
    counts = dict(windows(real, window, strides, pads, 0.0))
    for idx, w in windows(x, window, strides, pads, 0.0):
        axes = tuple(range(1, 1 + len(window)))
        n = np.prod(window) if count_include_pad else counts[idx].sum(axis=axes)
        np.testing.assert_allclose(
            y[(slice(None), *idx)], w.sum(axis=axes) / n, rtol=1e-5, atol=1e-6
        )


def test_same_padding_keeps_the_shape_and_unbatched_inputs_work():
    x = jax.random.normal(jax.random.key(0), (5, 4, 3))
    assert max_pool(x, (3, 3), padding="SAME").shape == (5, 4, 3)
    np.testing.assert_array_equal(max_pool(x, (2, 2)), max_pool(x[None], (2, 2))[0])
    assert avg_pool(x[None, None], (2, 2), count_include_pad=False).shape == (1, 1, 4, 3, 3)
    # Two batch axes with explicit padding (flax 0.12.8 pads only one and fails).
    two = max_pool(x[None, None], (2, 2), padding=((1, 0), (0, 1)))
    np.testing.assert_array_equal(two[0, 0], max_pool(x, (2, 2), padding=((1, 0), (0, 1))))


def test_integer_inputs_and_a_custom_reduction():
    x = jnp.arange(6, dtype=jnp.int32).reshape(1, 6, 1)
    assert max_pool(x, (2,), (2,))[0, :, 0].tolist() == [1, 3, 5]
    assert min_pool(x, (2,), (2,))[0, :, 0].tolist() == [0, 2, 4]
    assert pool(x, 1, jax.lax.mul, (3,), (3,))[0, :, 0].tolist() == [0, 60]


def test_bf16_inputs_pool_in_bf16():
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    y = avg_pool(x.astype(jnp.bfloat16), (2, 2))
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(y.astype(jnp.float32), avg_pool(x, (2, 2)), atol=2e-2)


@pytest.mark.parametrize("fn", [max_pool, min_pool, avg_pool])
def test_gradients_under_jit_match_eager(fn):
    # A CNN's train step differentiates its pooling inside jit: the identity passed to
    # reduce_window must stay concrete there, or JAX cannot linearize the reduction.
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))

    def loss(x):
        return jnp.sum(fn(x, (2, 2), (2, 2), padding=((0, 1), (1, 0))) ** 2)

    np.testing.assert_allclose(jax.jit(jax.grad(loss))(x), jax.grad(loss)(x), rtol=1e-6)


def test_mismatched_arguments_name_each_problem_and_the_fix():
    x = jnp.ones((2, 4, 4, 3))
    with pytest.raises(
        ValueError, match=r"(?s)nnx\.pool: window_shape=\(2, 2\).*strides=\(1,\).*Fix: nnx\.pool\("
    ):
        max_pool(x, (2, 2), strides=(1,))
    with pytest.raises(ValueError, match=r"(?s)padding=\(\(0, 0\),\).*Fix"):
        avg_pool(x, (2, 2), padding=((0, 0),))
