"""One contract over every layer: builds, runs on a batch, has the documented Params,
has finite gradients, and survives nnx split/merge with identical outputs."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import LayerInputError, Module, merge, split
from nnx_layers import (
    BatchNorm,
    Conv,
    Dropout,
    Embed,
    LayerNorm,
    Linear,
    LoRA,
    LoRALinear,
    Sequential,
    SpectralNorm,
    WeightNorm,
    relu,
)
from nnx_variables import Param, Rngs


@dataclass(frozen=True)
class Case:
    build: Callable[[Rngs], Module]
    inputs: Callable[[], jax.Array]
    params: dict[tuple[Any, ...], tuple[int, ...]]
    output_shape: tuple[int, ...]


def floats(*shape):
    return lambda: jax.random.normal(jax.random.key(42), shape)


CASES = {
    "Linear": Case(
        lambda r: Linear(3, 4, rngs=r),
        floats(2, 5, 3),
        {("kernel",): (3, 4), ("bias",): (4,)},
        (2, 5, 4),
    ),
    "Dropout": Case(lambda r: Dropout(0.5, rngs=r), floats(4, 3), {}, (4, 3)),
    "BatchNorm": Case(
        lambda r: BatchNorm(3, rngs=r),
        floats(4, 3),
        {("scale",): (3,), ("bias",): (3,)},
        (4, 3),
    ),
    "LayerNorm": Case(
        lambda r: LayerNorm(3, rngs=r),
        floats(4, 3),
        {("scale",): (3,), ("bias",): (3,)},
        (4, 3),
    ),
    "Embed": Case(
        lambda r: Embed(6, 3, rngs=r),
        lambda: jnp.array([[0, 5], [2, 3]]),
        {("embedding",): (6, 3)},
        (2, 2, 3),
    ),
    "Conv": Case(
        lambda r: Conv(2, 4, (3, 3), rngs=r),
        floats(2, 5, 5, 2),
        {("kernel",): (3, 3, 2, 4), ("bias",): (4,)},
        (2, 5, 5, 4),
    ),
    "Sequential": Case(
        lambda r: Sequential(Linear(3, 4, rngs=r), relu, Linear(4, 2, rngs=r)),
        floats(5, 3),
        {
            ("layers", 0, "kernel"): (3, 4),
            ("layers", 0, "bias"): (4,),
            ("layers", 2, "kernel"): (4, 2),
            ("layers", 2, "bias"): (2,),
        },
        (5, 2),
    ),
    "WeightNorm": Case(
        lambda r: WeightNorm(Linear(3, 4, rngs=r), rngs=r),
        floats(5, 3),
        {("layer_instance", "kernel"): (3, 4), ("layer_instance", "bias"): (4,)},
        (5, 4),
    ),
    "SpectralNorm": Case(
        lambda r: SpectralNorm(Conv(2, 4, (3, 3), rngs=r), rngs=r),
        floats(2, 5, 5, 2),
        {("layer_instance", "kernel"): (3, 3, 2, 4), ("layer_instance", "bias"): (4,)},
        (2, 5, 5, 4),
    ),
    "LoRA": Case(
        lambda r: LoRA(3, 2, 4, base_module=Linear(3, 4, rngs=r), rngs=r),
        floats(5, 3),
        {
            ("lora_a",): (3, 2),
            ("lora_b",): (2, 4),
            ("base_module", "kernel"): (3, 4),
            ("base_module", "bias"): (4,),
        },
        (5, 4),
    ),
    "LoRALinear": Case(
        lambda r: LoRALinear(3, 4, lora_rank=2, rngs=r),
        floats(5, 3),
        {
            ("kernel",): (3, 4),
            ("bias",): (4,),
            ("lora", "lora_a"): (3, 2),
            ("lora", "lora_b"): (2, 4),
        },
        (5, 4),
    ),
}


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request):
    return CASES[request.param]


def test_builds_and_runs_on_a_batch(case):
    model = case.build(Rngs(0))
    y = model(case.inputs())
    assert y.shape == case.output_shape
    assert bool(jnp.all(jnp.isfinite(y)))


def test_has_the_documented_params(case):
    _, params, _ = split(case.build(Rngs(0)), Param, ...)
    shapes = {path: state.value.shape for path, state in params.flat_dict().items()}
    assert shapes == case.params


def test_gradients_are_finite(case):
    graphdef, params, rest = split(case.build(Rngs(0)), Param, ...)
    x = case.inputs()
    differentiate_input = not case.params

    def loss(params, x):
        model = merge(graphdef, params, rest)
        return jnp.sum(model(x) ** 2)

    grads = jax.grad(loss, argnums=1 if differentiate_input else 0)(params, x)
    leaves = jax.tree.leaves(grads)
    assert leaves
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)


def test_survives_split_merge_with_identical_outputs(case):
    model = case.build(Rngs(0))
    copy = merge(*split(model), copy=True)
    assert copy is not model
    x = case.inputs()
    np.testing.assert_array_equal(copy(x), model(x))
    # state the call changed (batch statistics, RNG counts) is identical too
    copied, original = split(copy)[1].flat_dict(), split(model)[1].flat_dict()
    assert copied.keys() == original.keys()
    for path in original:
        np.testing.assert_array_equal(_raw(copied[path]), _raw(original[path]), err_msg=str(path))


class Holder(Module):
    """Holds the layer under test one level down, so errors must name its path."""

    def __init__(self, layer):
        self.block = [layer]

    def __call__(self, x):
        return self.block[0](x)


@pytest.mark.parametrize("bad", ["abc", None])
def test_a_non_array_input_names_the_layer_path_and_the_fix(case, bad):
    with pytest.raises(
        LayerInputError,
        match=rf"(?s)^model\.block\[0\]\S* \(\w+\): expected an array input, got {bad!r}.*"
        r"Fix: pass a jax\.Array, e\.g\. layer\(jnp\.asarray\(x\)\)",
    ):
        Holder(case.build(Rngs(0)))(bad)


def test_a_string_array_input_names_the_layer_path_and_the_fix(case):
    with pytest.raises(
        LayerInputError,
        match=r"(?s)^model\.block\[0\]\S* \(\w+\): expected a numeric array input, "
        r"got ndarray\(shape=\(1, 3\), dtype=str.*"
        r"Fix: pass numbers, e\.g\. layer\(jnp\.asarray\(x, jnp\.float32\)\)",
    ):
        Holder(case.build(Rngs(0)))(np.array([["a", "b", "c"]]))


def test_same_seed_same_values(case):
    first = split(case.build(Rngs(0)))[1].flat_dict()
    second = split(case.build(Rngs(0)))[1].flat_dict()
    assert first.keys() == second.keys()
    for path in first:
        np.testing.assert_array_equal(_raw(first[path]), _raw(second[path]), err_msg=str(path))


def _raw(state):
    value = getattr(state, "value", state)  # WeightNorm.scales holds plain arrays
    if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(value))
    return np.asarray(value)
