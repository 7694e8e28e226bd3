import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError
from nnx_layers import Conv
from nnx_variables import Rngs

# First entries of Conv(2, 3, (2, 2), rngs=Rngs(0)).kernel in the reference (flax 0.12.8).
REFERENCE_KERNEL_START = [0.37836495, -0.34285027, -0.28441685, -0.43788025, -0.32997137]


def test_reference_kernel_and_defaults():
    rngs = Rngs(0)
    conv = Conv(2, 3, (2, 2), rngs=rngs)
    assert conv.kernel.shape == (2, 2, 2, 3) and conv.bias.shape == (3,)
    np.testing.assert_allclose(conv.kernel.value.ravel()[:5], REFERENCE_KERNEL_START, rtol=1e-6)
    assert conv.padding == "SAME" and conv.strides == (1, 1)
    assert int(rngs.default.count.value) == 2


def test_int_kernel_size_is_1d():
    conv = Conv(4, 5, 3, rngs=Rngs(0))
    assert conv.kernel.shape == (3, 4, 5)
    assert conv(jnp.ones((2, 10, 4))).shape == (2, 10, 5)


@pytest.mark.parametrize(
    ("padding", "strides", "expected"),
    [
        ("SAME", 1, (1, 8, 8, 6)),
        ("VALID", 1, (1, 6, 6, 6)),
        ("SAME", 2, (1, 4, 4, 6)),
        (1, 1, (1, 8, 8, 6)),
        ([(0, 0), (2, 2)], (1, 2), (1, 6, 5, 6)),
    ],
)
def test_padding_and_strides_shapes(padding, strides, expected):
    conv = Conv(3, 6, (3, 3), strides, padding=padding, rngs=Rngs(0))
    assert conv(jnp.ones((1, 8, 8, 3))).shape == expected


def test_matches_lax_convolution_numerically():
    conv = Conv(2, 3, (3,), padding="VALID", rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (1, 5, 2))
    y = conv(x)
    kernel = np.asarray(conv.kernel.value)
    xn = np.asarray(x)
    expected = np.stack([np.einsum("kc,kco->o", xn[0, i : i + 3], kernel) for i in range(3)])[None]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_feature_groups_make_a_depthwise_kernel():
    conv = Conv(4, 8, (3, 3), feature_group_count=4, rngs=Rngs(0))
    assert conv.kernel.shape == (3, 3, 1, 8)
    assert conv(jnp.ones((2, 5, 5, 4))).shape == (2, 5, 5, 8)


def test_extra_batch_dims_and_no_batch_dim():
    conv = Conv(2, 3, (2, 2), rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 3, 4, 4, 2))
    y = conv(x)
    assert y.shape == (2, 3, 4, 4, 3)
    np.testing.assert_allclose(y[1, 2], conv(x[1, 2]), rtol=1e-5, atol=1e-6)


def test_unbatched_input_keeps_its_rank():
    conv = Conv(2, 3, (2, 2), rngs=Rngs(0))
    assert conv(jnp.ones((4, 4, 2))).shape == (4, 4, 3)


def test_dilations_and_bfloat16():
    conv = Conv(1, 1, 3, kernel_dilation=2, padding="VALID", dtype=jnp.bfloat16, rngs=Rngs(0))
    y = conv(jnp.ones((1, 9, 1)))
    assert y.shape == (1, 5, 1) and y.dtype == jnp.bfloat16


def test_no_bias():
    conv = Conv(1, 1, 1, use_bias=False, rngs=Rngs(0))
    assert conv.bias is None
    np.testing.assert_allclose(
        conv(jnp.ones((1, 2, 1))), np.full((1, 2, 1), conv.kernel.value[0, 0, 0])
    )


def test_wrong_channels():
    with pytest.raises(
        LayerInputError,
        match=r"Conv: expected input with last dimension 3 \(in_features\), got shape "
        r"\(1, 8, 8, 4\)(.|\n)*Fix: pass inputs of shape \(batch, size, size, 3\)",
    ):
        Conv(3, 6, (3, 3), rngs=Rngs(0))(jnp.ones((1, 8, 8, 4)))


def test_too_few_dims():
    with pytest.raises(LayerInputError, match=r"at least 3 dimensions \(2 spatial \+ features\)"):
        Conv(3, 6, (3, 3), rngs=Rngs(0))(jnp.ones((8, 3)))


def test_bad_groups_are_rejected_before_drawing_keys():
    rngs = Rngs(0)
    with pytest.raises(ValueError, match=r"in_features=3 is not divisible by feature_group_count"):
        Conv(3, 6, 3, feature_group_count=2, rngs=rngs)
    assert int(rngs.default.count.value) == 0


@pytest.mark.parametrize("padding", ["FULL", (1, 2, 3), [(1, 2, 3), 0]])
def test_bad_padding(padding):
    with pytest.raises(ValueError, match=r"invalid padding .* for a 2-d convolution(.|\n)*Fix"):
        Conv(1, 1, (3, 3), padding=padding, rngs=Rngs(0))


def test_bad_strides_length():
    with pytest.raises(ValueError, match=r"strides=\(1, 2, 3\) has 3 entries for a 2-d(.|\n)*Fix"):
        Conv(1, 1, (3, 3), (1, 2, 3), rngs=Rngs(0))


def test_circular_and_reflect_pad_by_wrapping_and_mirroring():
    x = jax.random.normal(jax.random.key(1), (2, 6, 5, 3))
    for padding, mode in [("CIRCULAR", "wrap"), ("REFLECT", "reflect")]:
        conv = Conv(3, 4, (3, 2), padding=padding, rngs=Rngs(0))
        valid = Conv(3, 4, (3, 2), padding="VALID", rngs=Rngs(0))
        padded = jnp.pad(x, [(0, 0), (1, 1), (0, 1), (0, 0)], mode=mode)
        np.testing.assert_allclose(conv(x), valid(padded), atol=1e-5)
        assert conv(x).shape == (2, 6, 5, 4)


def test_causal_output_sees_only_the_past():
    conv = Conv(2, 3, 3, kernel_dilation=2, padding="CAUSAL", rngs=Rngs(0))
    x = jax.random.normal(jax.random.key(1), (1, 8, 2))
    y = conv(x)
    assert y.shape == (1, 8, 3)
    changed = conv(x.at[:, 5].set(10.0))
    np.testing.assert_array_equal(changed[:, :5], y[:, :5])
    assert not np.allclose(changed[:, 5], y[:, 5])
    with pytest.raises(ValueError, match=r"(?s)'CAUSAL' is only defined for 1-d.*Fix: nnx\.Conv"):
        Conv(2, 3, (3, 3), padding="CAUSAL", rngs=Rngs(0))


def test_mask_multiplies_the_kernel_and_must_match_it():
    mask = jnp.tril(jnp.ones((3, 3, 4)))
    conv = Conv(3, 4, 3, mask=mask, padding="VALID", rngs=Rngs(0))
    plain = Conv(3, 4, 3, padding="VALID", rngs=Rngs(0))
    plain.kernel.value = plain.kernel.value * mask
    x = jax.random.normal(jax.random.key(1), (2, 6, 3))
    np.testing.assert_allclose(conv(x), plain(x), atol=1e-6)
    rngs = Rngs(0)
    with pytest.raises(ValueError, match=r"(?s)mask .*\(3, 3, 4\).*Fix: nnx\.Conv\(\.\.\., mask="):
        Conv(3, 4, 3, mask=jnp.ones((3, 4)), rngs=rngs)
    assert int(rngs.default.count.value) == 0


def test_custom_conv_function_and_preferred_element_type():
    calls = []

    def conv_fn(*args, **kwargs):
        calls.append(kwargs.get("preferred_element_type"))
        return jax.lax.conv_general_dilated(*args, **kwargs)

    conv = Conv(
        3, 4, 3, conv_general_dilated=conv_fn, preferred_element_type=jnp.float32, rngs=Rngs(0)
    )
    conv(jnp.ones((1, 5, 3)))
    assert calls == [jnp.float32]
