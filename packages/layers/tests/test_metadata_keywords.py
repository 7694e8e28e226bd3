"""The flax 0.12 layer keywords: ``*_metadata=`` on every Param, ``out_sharding=`` on calls."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, PartitionSpec

import nnx_layers as nn
from nnx_graph import state
from nnx_variables import Rngs, get_partition_spec, with_metadata, with_partitioning

needs_8_devices = pytest.mark.skipif(
    len(jax.devices()) < 8,
    reason="needs 8 devices: run with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=8 (as `make pytest` does)",
)


def _path(module, path):
    for name in path.split("."):
        module = getattr(module, name)
    return module


# (name, build(**metadata keywords), {keyword: [paths of the Params it reaches]})
CASES = [
    (
        "Linear",
        lambda **kw: nn.Linear(2, 3, rngs=Rngs(0), **kw),
        {"kernel_metadata": ["kernel"], "bias_metadata": ["bias"]},
    ),
    (
        "Conv",
        lambda **kw: nn.Conv(2, 3, (3,), rngs=Rngs(0), **kw),
        {"kernel_metadata": ["kernel"], "bias_metadata": ["bias"]},
    ),
    (
        "ConvTranspose",
        lambda **kw: nn.ConvTranspose(2, 3, (3,), rngs=Rngs(0), **kw),
        {"kernel_metadata": ["kernel"], "bias_metadata": ["bias"]},
    ),
    (
        "LinearGeneral",
        lambda **kw: nn.LinearGeneral(4, (2, 3), rngs=Rngs(0), **kw),
        {"kernel_metadata": ["kernel"], "bias_metadata": ["bias"]},
    ),
    (
        "Einsum",
        lambda **kw: nn.Einsum("bd,dh->bh", (2, 3), (3,), rngs=Rngs(0), **kw),
        {"kernel_metadata": ["kernel"], "bias_metadata": ["bias"]},
    ),
    (
        "Embed",
        lambda **kw: nn.Embed(5, 3, rngs=Rngs(0), **kw),
        {"embedding_metadata": ["embedding"]},
    ),
    (
        "LayerNorm",
        lambda **kw: nn.LayerNorm(3, rngs=Rngs(0), **kw),
        {"scale_metadata": ["scale"], "bias_metadata": ["bias"]},
    ),
    (
        "BatchNorm",
        lambda **kw: nn.BatchNorm(3, rngs=Rngs(0), **kw),
        {"scale_metadata": ["scale"], "bias_metadata": ["bias"]},
    ),
    (
        "GroupNorm",
        lambda **kw: nn.GroupNorm(4, num_groups=2, rngs=Rngs(0), **kw),
        {"scale_metadata": ["scale"], "bias_metadata": ["bias"]},
    ),
    (
        "InstanceNorm",
        lambda **kw: nn.InstanceNorm(3, rngs=Rngs(0), **kw),
        {"scale_metadata": ["scale"], "bias_metadata": ["bias"]},
    ),
    (
        "RMSNorm",
        lambda **kw: nn.RMSNorm(3, rngs=Rngs(0), **kw),
        {"scale_metadata": ["scale"]},
    ),
    (
        "LoRA",
        lambda **kw: nn.LoRA(3, 2, 4, rngs=Rngs(0), **kw),
        {"a_metadata": ["lora_a"], "b_metadata": ["lora_b"]},
    ),
    (
        "LoRALinear",
        lambda **kw: nn.LoRALinear(3, 4, lora_rank=2, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["kernel"],
            "bias_metadata": ["bias"],
            "a_metadata": ["lora.lora_a"],
            "b_metadata": ["lora.lora_b"],
        },
    ),
    (
        "MultiHeadAttention",
        lambda **kw: nn.MultiHeadAttention(2, 4, normalize_qk=True, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["query.kernel", "key.kernel", "value.kernel"],
            "bias_metadata": ["query.bias", "key.bias", "value.bias"],
            "out_kernel_metadata": ["out.kernel"],
            "out_bias_metadata": ["out.bias"],
            "query_ln_scale_metadata": ["query_ln.scale"],
            "key_ln_scale_metadata": ["key_ln.scale"],
        },
    ),
    (
        "SimpleCell",
        lambda **kw: nn.SimpleCell(3, 4, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["dense_i.kernel"],
            "bias_metadata": ["dense_i.bias"],
            "recurrent_kernel_metadata": ["dense_h.kernel"],
        },
    ),
    (
        "LSTMCell",
        lambda **kw: nn.LSTMCell(3, 4, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["ii.kernel", "if_.kernel", "ig.kernel", "io.kernel"],
            "recurrent_kernel_metadata": ["hi.kernel", "hf.kernel", "hg.kernel", "ho.kernel"],
            "bias_metadata": ["hi.bias", "hf.bias", "hg.bias", "ho.bias"],
        },
    ),
    (
        "OptimizedLSTMCell",
        lambda **kw: nn.OptimizedLSTMCell(3, 4, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["dense_i.kernel"],
            "recurrent_kernel_metadata": ["dense_h.kernel"],
            "bias_metadata": ["dense_h.bias"],
        },
    ),
    (
        "GRUCell",
        lambda **kw: nn.GRUCell(3, 4, rngs=Rngs(0), **kw),
        {
            "kernel_metadata": ["dense_i.kernel"],
            "bias_metadata": ["dense_i.bias"],
            "recurrent_kernel_metadata": ["dense_h.kernel"],
        },
    ),
]


@pytest.mark.parametrize(("name", "build", "reaches"), CASES, ids=[c[0] for c in CASES])
def test_each_metadata_keyword_reaches_its_params_and_leaves_the_values(name, build, reaches):
    plain = build()
    layer = build(**{keyword: {"tag": keyword} for keyword in reaches})
    for keyword, paths in reaches.items():
        for path in paths:
            assert _path(layer, path).get_metadata()["tag"] == keyword, (keyword, path)
    ours = jax.tree.map(np.asarray, state(layer).to_pure_dict())
    jax.tree.map(np.testing.assert_array_equal, ours, state(plain).to_pure_dict())


def test_sharding_metadata_is_seen_by_get_partition_spec():
    layer = nn.Linear(
        2,
        3,
        kernel_metadata={"sharding": ("a", "b")},
        bias_metadata={"sharding": ("b",)},
        rngs=Rngs(0),
    )
    specs = get_partition_spec(state(layer))
    assert specs["kernel"].value == PartitionSpec("a", "b")
    assert specs["bias"].value == PartitionSpec("b")


def test_the_initializers_metadata_wins_but_a_sharding_keyword_wins_over_it():
    """As flax 0.12.8 merges them: the box's metadata over the keyword's, then the keyword's
    ``sharding`` (a name flax remaps after merging) over the box's sharding."""
    init = with_partitioning(nn.initializers.lecun_normal(), ("a", "b"), note="box")
    layer = nn.Linear(
        2,
        3,
        kernel_init=init,
        kernel_metadata={"sharding": ("c", "d"), "note": "keyword", "extra": 1},
        rngs=Rngs(0),
    )
    assert layer.kernel.get_metadata() == {"out_sharding": ("c", "d"), "note": "box", "extra": 1}
    boxed = nn.Linear(
        2,
        3,
        kernel_init=with_metadata(nn.initializers.lecun_normal(), note="box"),
        kernel_metadata={"note": "keyword"},
        rngs=Rngs(0),
    )
    assert boxed.kernel.get_metadata() == {"note": "box"}


def test_linear_general_reshapes_a_boxed_initializer_output():
    init = with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
    layer = nn.LinearGeneral(4, (2, 3), kernel_init=init, rngs=Rngs(0))
    assert layer.kernel.shape == (4, 2, 3)
    assert layer.kernel.get_metadata() == {"out_sharding": (None, "model")}
    plain = nn.LinearGeneral(4, (2, 3), rngs=Rngs(0))
    np.testing.assert_array_equal(layer.kernel.value, plain.kernel.value)


def test_a_metadata_keyword_that_is_not_a_mapping_is_refused_with_the_fix():
    rngs = Rngs(0)
    with pytest.raises(
        TypeError,
        match=r"nnx\.Linear: metadata keywords must be mappings(.|\n)*kernel_metadata: "
        r"tuple(.|\n)*Fix: nnx\.Linear\(\.\.\., kernel_metadata=\{'sharding': \('a', 'b'\)\}",
    ):
        nn.Linear(2, 3, kernel_metadata=("a", "b"), rngs=rngs)
    assert rngs.params.count.value == 0  # refused before any key was drawn


def test_metadata_keywords_are_exactly_flax_0_12s():
    fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")
    for name, _, reaches in CASES:
        theirs = {
            p
            for p in inspect.signature(getattr(fnnx, name).__init__).parameters
            if p.endswith("_metadata")
        }
        ours = {
            p
            for p in inspect.signature(getattr(nn, name).__init__).parameters
            if p.endswith("_metadata")
        }
        # LoRALinear takes Linear's keywords through **kwargs, as flax's does.
        assert ours == theirs <= set(reaches), name


def test_preferred_element_type_sets_the_product_dtype_as_in_flax():
    layer = nn.Linear(2, 3, dtype=jnp.bfloat16, preferred_element_type=jnp.float32, rngs=Rngs(0))
    assert layer(jnp.ones((1, 2), jnp.bfloat16)).dtype == jnp.float32
    assert nn.Linear(2, 3, dtype=jnp.bfloat16, rngs=Rngs(0))(jnp.ones((1, 2))).dtype == jnp.bfloat16


# -- out_sharding ---------------------------------------------------------------------


def _explicit_mesh():
    return jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)


OUT_SHARDING_CASES = [
    ("Linear", lambda: nn.Linear(4, 8, rngs=Rngs(0)), lambda m, x, s: m(x, out_sharding=s)),
    (
        "LinearGeneral",
        lambda: nn.LinearGeneral(4, 8, rngs=Rngs(0)),
        lambda m, x, s: m(x, out_sharding=s),
    ),
    (
        "Einsum",
        lambda: nn.Einsum("bd,dh->bh", (4, 8), (8,), rngs=Rngs(0)),
        lambda m, x, s: m(x, out_sharding=s),
    ),
    (
        "LoRALinear",
        lambda: nn.LoRALinear(4, 8, lora_rank=2, rngs=Rngs(0)),
        lambda m, x, s: m(x, out_sharding=s),
    ),
    (
        "Embed.attend",
        lambda: nn.Embed(8, 4, rngs=Rngs(0)),
        lambda m, x, s: m.attend(x, out_sharding=s),
    ),
]


@needs_8_devices
@pytest.mark.parametrize(
    ("name", "build", "call"), OUT_SHARDING_CASES, ids=[c[0] for c in OUT_SHARDING_CASES]
)
def test_out_sharding_constrains_the_product(name, build, call):
    layer = build()
    x = jnp.arange(8 * 4, dtype=jnp.float32).reshape(8, 4) / 32
    expected = call(layer, x, None)
    with jax.set_mesh(_explicit_mesh()):
        sharded = jax.device_put(x, PartitionSpec("data", None))
        y = call(layer, sharded, PartitionSpec("data", "model"))
        unconstrained = call(layer, sharded, None)
    assert y.sharding.spec == PartitionSpec("data", "model")
    assert unconstrained.sharding.spec != y.sharding.spec
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@needs_8_devices
@pytest.mark.parametrize("batch", [(8,), (2, 4)], ids=["one batch axis", "two batch axes"])
def test_conv_out_sharding_constrains_the_output(batch):
    conv = nn.Conv(3, 8, (3,), rngs=Rngs(0))
    x = jnp.ones((*batch, 5, 3))
    expected = conv(x)
    spec = PartitionSpec(*(("data",) + (None,) * len(batch)), "model")
    with jax.set_mesh(_explicit_mesh()):
        y = conv(jax.device_put(x, PartitionSpec("data")), out_sharding=spec)
    assert y.sharding.spec == spec
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@needs_8_devices
@pytest.mark.parametrize("rows", [1, 8])
def test_embed_lookup_out_sharding(rows):
    embed = nn.Embed(rows, 8, rngs=Rngs(0))
    ids = jnp.zeros((8, 2), jnp.int32)
    expected = embed(ids)
    spec = PartitionSpec("data", None, "model")
    with jax.set_mesh(_explicit_mesh()):
        y = embed(jax.device_put(ids, PartitionSpec("data")), out_sharding=spec)
    assert y.sharding.spec == spec
    np.testing.assert_allclose(y, expected)


def test_out_sharding_is_not_passed_to_a_custom_product_when_unset():
    """Unlike flax, which always passes ``out_sharding=None`` on: a 0.10-era custom
    ``dot_general`` without the keyword keeps working."""

    def dot_general(x, k, dims, precision=None):
        return jax.lax.dot_general(x, k, dims, precision=precision)

    layer = nn.Linear(2, 3, dot_general=dot_general, rngs=Rngs(0))
    assert layer(jnp.ones((1, 2))).shape == (1, 3)


@needs_8_devices
def test_attention_qkv_and_out_sharding_constrain_the_projections():
    mha = nn.MultiHeadAttention(4, 8, rngs=Rngs(0))
    x = jnp.arange(8 * 5 * 8, dtype=jnp.float32).reshape(8, 5, 8) / 320
    expected = mha(x)
    with jax.set_mesh(_explicit_mesh()):
        sharded = jax.device_put(x, PartitionSpec("data"))
        y = mha(
            sharded,
            qkv_sharding=PartitionSpec("data", None, "model", None),
            out_sharding=PartitionSpec("data", None, "model"),
        )
    assert y.sharding.spec == PartitionSpec("data", None, "model")
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
