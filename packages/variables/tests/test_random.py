"""The jax.random samplers and jax.nn initializers bound to RNG streams (Flax NNX 0.12)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_variables import Rngs, RngStream


def _nth_key(seed: int, n: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed), n)


@pytest.mark.parametrize(
    ("name", "args", "reference"),
    [
        ("normal", ((2, 3),), lambda k: jax.random.normal(k, (2, 3))),
        ("uniform", ((4,),), lambda k: jax.random.uniform(k, (4,))),
        ("bernoulli", (0.5, (5,)), lambda k: jax.random.bernoulli(k, 0.5, (5,))),
        ("randint", ((3,), 0, 10), lambda k: jax.random.randint(k, (3,), 0, 10)),
        ("categorical", (jnp.zeros(4),), lambda k: jax.random.categorical(k, jnp.zeros(4))),
        (
            "truncated_normal",
            (-1.0, 1.0, (2,)),
            lambda k: jax.random.truncated_normal(k, -1, 1, (2,)),
        ),
        ("permutation", (5,), lambda k: jax.random.permutation(k, 5)),
    ],
)
def test_samplers_draw_the_streams_next_key(name, args, reference):
    rngs = Rngs(0, dropout=1)
    first = getattr(rngs, name)(*args)
    np.testing.assert_array_equal(first, reference(_nth_key(0, 0)))
    second = getattr(rngs.dropout, name)(*args)  # a named stream: its own key
    np.testing.assert_array_equal(second, reference(_nth_key(1, 0)))
    assert int(rngs.default.count[...]) == 1 and int(rngs.dropout.count[...]) == 1


def test_every_sampler_and_initializer_flax_binds_exists_on_both_classes():
    names = [
        "bits", "uniform", "randint", "permutation", "choice", "normal", "multivariate_normal",
        "truncated_normal", "bernoulli", "beta", "cauchy", "dirichlet", "exponential", "gamma",
        "loggamma", "poisson", "gumbel", "categorical", "laplace", "logistic", "pareto", "t",
        "chisquare", "f", "rademacher", "maxwell", "double_sided_maxwell", "weibull_min",
        "orthogonal", "generalized_normal", "ball", "rayleigh", "wald", "geometric",
        "triangular", "lognormal", "binomial", "multinomial", "delta_orthogonal",
        "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "kaiming_normal",
        "kaiming_uniform", "lecun_normal", "lecun_uniform", "variance_scaling",
        "xavier_normal", "xavier_uniform",
    ]  # fmt: skip
    for cls in (Rngs, RngStream):
        assert [n for n in names if not callable(getattr(cls, n, None))] == []


def test_initializers_bind_the_key_and_take_shape_and_dtype():
    rngs = Rngs(params=3)
    init = rngs.params.lecun_normal()
    w = init((4, 2), jnp.bfloat16)
    expected = jax.nn.initializers.lecun_normal()(_nth_key(3, 0), (4, 2), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16
    np.testing.assert_array_equal(w, expected)
    scaled = rngs.params.variance_scaling(2.0, "fan_in", "uniform")((3, 3))
    assert scaled.shape == (3, 3)


def test_a_stream_named_like_a_sampler_keeps_its_name():
    rngs = Rngs(normal=0)
    assert isinstance(rngs.normal, RngStream) and rngs.normal.tag == "normal"


def test_samplers_inside_jit_advance_the_stream():
    rngs = Rngs(0)

    @jax.jit
    def draw(key, count):
        stream = RngStream(key, tag="default")
        stream.count[...] = count
        return stream.normal((2,)), stream.count[...]

    values, count = draw(rngs.default.key[...], rngs.default.count[...])
    np.testing.assert_array_equal(values, jax.random.normal(_nth_key(0, 0), (2,)))
    assert int(count) == 1


def test_rngs_split_gives_each_stream_k_keys_or_follows_a_filter_mapping():
    rngs = Rngs(params=1, dropout=2, noise=3)
    split = rngs.split(5)
    assert split.params.key.shape == split.dropout.key.shape == (5,)
    np.testing.assert_array_equal(
        jax.random.key_data(split.params.key[...]),
        jax.random.key_data(jax.random.split(_nth_key(1, 0), 5)),
    )
    assert int(rngs.params.count[...]) == 1  # the key came from the stream
    mapped = rngs.split({"params": 5, "dropout": None, ...: (2, 5)})
    assert mapped.params.key.shape == (5,) and mapped.noise.key.shape == (2, 5)
    assert mapped.dropout is rngs.dropout
    partial = rngs.split({"params": 2})
    assert partial.noise is rngs.noise and partial.params.key.shape == (2,)


def test_rng_stream_split_and_the_key_and_count_accessors():
    stream = RngStream(jax.random.key(0), tag="params")
    assert stream.split((2, 3)).key.shape == (2, 3)
    assert stream.split(2).tag == "params"
    assert int(stream.count.get_value()) == 2
    key = stream.key.get_value()
    assert jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


def test_sampler_names_follow_flax_0_12_and_indexing_keeps_the_0_10_fallback():
    rngs = Rngs(0)
    value = rngs.uniform()  # 0.12: a sample; in 0.10 the default stream's next key
    assert value.shape == () and value.dtype == jnp.float32
    key = rngs["uniform"]()  # 0.10's fallback to the default stream, by indexing
    assert jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    assert rngs["split"] is rngs.default and int(rngs.default.count[...]) == 2
