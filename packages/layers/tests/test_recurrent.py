"""Recurrent cells against their equations written out in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import state
from nnx_layers import (
    GRUCell,
    LSTMCell,
    OptimizedLSTMCell,
    SimpleCell,
    initializers,
)
from nnx_variables import Rngs, RngStream

X = jax.random.normal(jax.random.key(0), (2, 3))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def dense(layer, x):
    y = np.asarray(x, np.float64) @ np.asarray(layer.kernel.value, np.float64)
    return y if layer.bias is None else y + np.asarray(layer.bias.value)


def test_simple_cell():
    cell = SimpleCell(3, 4, residual=True, rngs=Rngs(0))
    h0 = jax.random.normal(jax.random.key(1), (2, 4))
    h, y = cell(h0, X)
    np.testing.assert_allclose(
        h, np.tanh(dense(cell.dense_i, X) + dense(cell.dense_h, h0) + h0), atol=1e-5
    )
    np.testing.assert_array_equal(h, y)


def test_lstm_cells_agree_with_the_equations_and_each_other():
    cell = LSTMCell(3, 4, rngs=Rngs(0))
    c0, h0 = (jax.random.normal(k, (2, 4)) for k in jax.random.split(jax.random.key(1)))
    (c, h), _ = cell((c0, h0), X)
    gate = {
        n: dense(getattr(cell, "i" + n), X) + dense(getattr(cell, "h" + n.rstrip("_")), h0)
        for n in ["i", "f_", "g", "o"]
    }
    expected_c = sigmoid(gate["f_"]) * c0 + sigmoid(gate["i"]) * np.tanh(gate["g"])
    np.testing.assert_allclose(c, expected_c, atol=1e-5)
    np.testing.assert_allclose(h, sigmoid(gate["o"]) * np.tanh(expected_c), atol=1e-5)
    fused = OptimizedLSTMCell(3, 4, rngs=Rngs(0))
    fused.dense_i.kernel.value = jnp.concatenate(
        [getattr(cell, n).kernel.value for n in ["ii", "if_", "ig", "io"]], -1
    )
    fused.dense_h.kernel.value = jnp.concatenate(
        [getattr(cell, n).kernel.value for n in ["hi", "hf", "hg", "ho"]], -1
    )
    (c2, h2), _ = fused((c0, h0), X)
    np.testing.assert_allclose(c2, c, atol=1e-5)
    np.testing.assert_allclose(h2, h, atol=1e-5)


def test_gru_cell():
    cell = GRUCell(3, 4, rngs=Rngs(0))
    h0 = jax.random.normal(jax.random.key(1), (2, 4))
    h, _ = cell(h0, X)
    xr, xz, xn = np.split(dense(cell.dense_i, X), 3, -1)
    hr, hz, hn = np.split(dense(cell.dense_h, h0), 3, -1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    np.testing.assert_allclose(h, (1 - z) * np.tanh(xn + r * hn) + z * h0, atol=1e-5)


def test_initialize_carry():
    assert LSTMCell(3, 4, rngs=Rngs(0)).initialize_carry((5, 2, 3))[0].shape == (5, 2, 4)
    cell = GRUCell(3, 4, rngs=Rngs(0))
    assert float(jnp.abs(cell.initialize_carry((2, 3))).sum()) == 0.0
    drawn = cell.initialize_carry((2, 3), rngs=Rngs(carry=1), carry_init=initializers.normal())
    assert float(jnp.abs(drawn).sum()) > 0
    with pytest.raises(ValueError, match=r"no rngs were given(.|\n)*Fix"):
        cell.initialize_carry((2, 3), carry_init=initializers.normal())


CELLS = [SimpleCell, LSTMCell, OptimizedLSTMCell, GRUCell]
PARTS = {SimpleCell: 1, LSTMCell: 2, OptimizedLSTMCell: 2, GRUCell: 1}


def keep(make, **kwargs):
    with pytest.warns(UserWarning, match=r"keep_rngs=True\) is deprecated"):
        return make(3, 4, keep_rngs=True, **kwargs)


# flax 0.12.8, x = X: cell(cell.initialize_carry((2, 3)), x)[1][0, :3] for a cell built
# with keep_rngs=True, rngs=nnx.Rngs(0) (the fork shifts the parameters' keys by one).
KEPT_STEP = {
    SimpleCell: [0.93459332, 0.93974841, 0.50405741],
    LSTMCell: [-0.0039401, 0.0088, 0.1120943],
    OptimizedLSTMCell: [-0.0040155, 0.0372231, 0.0383237],
    GRUCell: [-0.88366961, 0.6572085, 0.84651738],
}


@pytest.mark.parametrize("make", CELLS)
def test_keep_rngs_forks_the_carry_stream_before_the_parameters(make):
    rngs = Rngs(0)
    cell = keep(make, rngs=rngs)
    # flax 0.12.8: Rngs(0) has no 'carry' stream, so the default one is forked; its key
    # is fold_in(key(0), 0), its count 0, and the parameters draw from count 1 on.
    assert isinstance(cell.rngs, RngStream) and cell.rngs.tag == "default"
    assert jax.random.key_data(cell.rngs.key.value).tolist() == [1797259609, 2579123966]
    assert int(cell.rngs.count.value) == 0
    assert int(rngs.default.count.value) == {LSTMCell: 13}.get(make, 4)
    flat = {path for path, _ in state(cell).flat_state() if path[0] == "rngs"}
    assert flat == {("rngs", "key"), ("rngs", "count")}
    _, y = cell(cell.initialize_carry((2, 3)), X)
    np.testing.assert_allclose(y[0, :3], KEPT_STEP[make], atol=1e-6)
    # Zeros draw their keys too: one per carry array.
    assert int(cell.rngs.count.value) == PARTS[make]


@pytest.mark.parametrize("make", CELLS)
def test_keep_rngs_forks_the_carry_stream_when_there_is_one(make):
    rngs = Rngs(params=0, carry=7)
    cell = keep(make, rngs=rngs)
    # flax 0.12.8: the params stream is untouched by the fork; carry moves on by one.
    assert cell.rngs.tag == "carry"
    assert jax.random.key_data(cell.rngs.key.value).tolist() == [3625411723, 1954958720]
    assert int(rngs.carry.count.value) == 1
    assert int(rngs.params.count.value) == {LSTMCell: 12}.get(make, 3)


@pytest.mark.parametrize("make", CELLS)
def test_without_keep_rngs_the_cell_holds_no_stream(make):
    rngs = Rngs(0)
    cell = make(3, 4, rngs=rngs)
    assert cell.rngs is None
    assert all(path[0] != "rngs" for path, _ in state(cell).flat_state())
    assert int(rngs.default.count.value) == {LSTMCell: 12}.get(make, 3)
    # flax 0.12.8 raises ValueError here; 0.10.7 gave zeros, which need no key.
    carry = cell.initialize_carry((2, 3))
    assert all(float(jnp.abs(c).sum()) == 0.0 for c in jax.tree.leaves(carry))


# flax 0.12.8: normal(1.0)'s first two draws from the kept stream of a cell built with
# keep_rngs=True, rngs=nnx.Rngs(0); the LSTMs' (c, h) take one each.
KEPT_NORMAL = [[-0.57478023, 0.79983658, -0.2596069], [-1.25747764, -0.40160441, -1.12136006]]


@pytest.mark.parametrize("make", CELLS)
def test_initialize_carry_draws_from_the_kept_stream(make):
    cell = keep(make, rngs=Rngs(0))
    carry = cell.initialize_carry((2, 3), carry_init=initializers.normal(1.0))
    want = KEPT_NORMAL[: PARTS[make]]
    got = jax.tree.leaves(carry)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g[0, :3], w, atol=1e-6)
    assert int(cell.rngs.count.value) == PARTS[make]
    # Given rngs win over the kept stream, which is then left alone.
    cell.initialize_carry((2, 3), rngs=Rngs(carry=1))
    assert int(cell.rngs.count.value) == PARTS[make]


# flax 0.12.8: normal(1.0)(key, (2, 4)) for the first key of nnx.Rngs(1).
FIRST_NORMAL = [
    [0.53193736, -0.72301704, 0.907257, -0.9504526],
    [-1.9374071, 1.4228454, 0.50857073, -0.27512357],
]


@pytest.mark.parametrize("make", CELLS)
@pytest.mark.parametrize("given", ["rngs", "carry_stream", "default_stream"])
def test_initialize_carry_with_a_random_carry_init(make, given):
    cell = make(3, 4, rngs=Rngs(0))
    rngs = {
        "rngs": Rngs(1),
        "carry_stream": Rngs(carry=1).carry,
        "default_stream": Rngs(1).default,
    }[given]
    carry = cell.initialize_carry((2, 3), rngs, carry_init=initializers.normal(1.0))
    np.testing.assert_allclose(jax.tree.leaves(carry)[0], FIRST_NORMAL, atol=1e-6)
    # normal()'s default stddev is 0.01.
    small = cell.initialize_carry((2, 3), rngs=Rngs(carry=1), carry_init=initializers.normal())
    np.testing.assert_allclose(jax.tree.leaves(small)[0], np.array(FIRST_NORMAL) / 100, atol=1e-8)


@pytest.mark.parametrize("make", CELLS)
def test_a_carry_init_given_to_the_constructor_warns_and_is_the_default(make):
    with pytest.warns(UserWarning, match=r"carry_init=\.\.\.\).*initialize_carry"):
        cell = make(3, 4, carry_init=initializers.normal(1.0), rngs=Rngs(0))
    carry = cell.initialize_carry((2, 3), rngs=Rngs(carry=1))
    np.testing.assert_allclose(jax.tree.leaves(carry)[0], FIRST_NORMAL, atol=1e-6)
    # The argument of initialize_carry wins over the constructor's.
    zeros = cell.initialize_carry((2, 3), rngs=Rngs(carry=1), carry_init=initializers.zeros)
    assert float(jnp.abs(jax.tree.leaves(zeros)[0]).sum()) == 0.0
    # flax 0.10.7 drew from the Rngs the cell held; 0.12.8 (and nnx) hold none.
    with pytest.raises(
        ValueError,
        match=rf"nnx\.{make.__name__}\.initialize_carry: carry_init draws random values but "
        r"no rngs were given(.|\n)*keep_rngs=True(.|\n)*"
        r"Fix: cell\.initialize_carry\(\(2, 3\), rngs=nnx\.Rngs\(carry=0\)\)",
    ):
        cell.initialize_carry((2, 3))


@pytest.mark.parametrize("make", CELLS)
def test_initialize_carry_refuses_rngs_that_are_not_streams(make):
    cell = make(3, 4, rngs=Rngs(0))
    with pytest.raises(
        TypeError,
        match=rf"nnx\.{make.__name__}\.initialize_carry: rngs must be an nnx\.Rngs or an "
        r"RngStream, got 3(.|\n)*Fix: cell\.initialize_carry\(\(2, 3\), rngs=nnx\.Rngs",
    ):
        cell.initialize_carry((2, 3), 3)


@pytest.mark.parametrize("make", CELLS)
def test_the_carry_is_made_in_param_dtype(make):
    # flax 0.12.8: bfloat16 parameters give a bfloat16 carry; dtype=bfloat16 with float32
    # parameters gives a float32 one. (Orthogonal init has no bfloat16 QR on CPU.)
    low = make(
        3,
        4,
        param_dtype=jnp.bfloat16,
        recurrent_kernel_init=initializers.normal(),
        rngs=Rngs(0),
    )
    assert {c.dtype for c in jax.tree.leaves(low.initialize_carry((2, 3)))} == {
        jnp.dtype(jnp.bfloat16)
    }
    high = make(3, 4, dtype=jnp.bfloat16, rngs=Rngs(0))
    assert {c.dtype for c in jax.tree.leaves(high.initialize_carry((2, 3)))} == {
        jnp.dtype(jnp.float32)
    }


@pytest.mark.parametrize("make", CELLS)
def test_promote_dtype_reaches_every_linear(make):
    calls = []

    def record(arrays, /, *, dtype=None, inexact=True):
        calls.append((dtype, tuple(a is None for a in arrays)))
        return tuple(None if a is None else jnp.asarray(a, dtype) for a in arrays)

    cell = make(3, 4, dtype=jnp.bfloat16, promote_dtype=record, rngs=Rngs(0))
    assert cell.promote_dtype is record
    cell(cell.initialize_carry((2, 3)), X)
    # flax 0.12.8: one call per Linear in the order the step calls them, told the cell's
    # dtype; the bias slot is None where the Linear has none.
    order = {
        SimpleCell: [False, True],
        GRUCell: [False, True],
        OptimizedLSTMCell: [True, False],
        LSTMCell: [True, False] * 4,
    }[make]
    assert calls == [(jnp.bfloat16, (False, False, no_bias)) for no_bias in order]


def half(arrays, /, *, dtype=None, inexact=True):
    return tuple(None if a is None else a.astype(jnp.float16) for a in arrays)


# flax 0.12.8: y[0, :4] and y's dtype from a zero carry and X, with promote_dtype=half.
HALF = {
    SimpleCell: ([-0.9897461, -0.99902344, -0.82128906, -0.23535156], jnp.float16),
    LSTMCell: ([0.0106445, 0.3931141, 0.2967089, -0.01451889], jnp.float32),
    OptimizedLSTMCell: ([0.01816558, -0.08212204, -0.09003752, 0.09414236], jnp.float32),
    GRUCell: ([0.2919922, -0.5288086, -0.09436035, 0.51123047], jnp.float32),
}


@pytest.mark.parametrize("make", CELLS)
def test_a_custom_promote_dtype_sets_the_compute_dtype(make):
    cell = make(3, 4, promote_dtype=half, rngs=Rngs(0))
    _, y = cell(cell.initialize_carry((2, 3)), X)
    want, dtype = HALF[make]
    assert y.dtype == dtype
    np.testing.assert_allclose(np.asarray(y, np.float32)[0], want, atol=1e-6)


@pytest.mark.parametrize("make", [SimpleCell, LSTMCell, OptimizedLSTMCell, GRUCell])
def test_bf16_compute_with_float32_params(make):
    cell = make(3, 4, dtype=jnp.bfloat16, rngs=Rngs(0))
    # The carry is created in param_dtype (as flax does); a bf16 carry stays bf16.
    carry = jax.tree.map(lambda c: c.astype(jnp.bfloat16), cell.initialize_carry((2, 3)))
    _, y = cell(carry, X.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    assert all(
        p.value.dtype == jnp.float32
        for p in jax.tree.leaves(cell, is_leaf=lambda v: hasattr(v, "value"))
        if hasattr(p, "value")
    )
