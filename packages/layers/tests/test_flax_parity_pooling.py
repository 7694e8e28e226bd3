"""Pooling: the same numbers as flax.nnx 0.12.8's functions."""

import jax
import numpy as np
import pytest

import nnx_layers as ours

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")


@pytest.mark.parametrize("name", ["avg_pool", "max_pool", "min_pool"])
@pytest.mark.parametrize(
    ("shape", "window", "strides", "padding"),
    [
        ((2, 6, 5, 3), (2, 3), (2, 1), "SAME"),
        ((6, 5, 3), (3, 2), None, "VALID"),
        ((2, 6, 5, 3), (2, 2), (1, 2), ((1, 0), (0, 1))),  # flax pads 1 batch axis only
    ],
)
def test_same_numbers(name, shape, window, strides, padding):
    x = jax.random.normal(jax.random.key(0), shape)
    got = getattr(ours, name)(x, window, strides, padding)
    want = getattr(fnnx, name)(x, window, strides, padding)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    if name == "avg_pool":
        got = ours.avg_pool(x, window, strides, padding, count_include_pad=False)
        want = fnnx.avg_pool(x, window, strides, padding, count_include_pad=False)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
