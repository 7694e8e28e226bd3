"""The jax.random samplers and jax.nn initializers, bound to an RNG stream (Flax NNX 0.12).

``rngs.normal((2, 3))`` is ``jax.random.normal(rngs(), (2, 3))``: each call draws the
stream's next key, so code stops threading keys by hand. ``rngs.lecun_normal()`` is
the jax initializer with its key bound, called as ``init(shape, dtype)``. The methods are
generated from one list of names rather than written out: they differ only in the jax
function they call, and a list keeps them in step with what flax offers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax

# Every jax.random sampler flax 0.12 binds to a stream.
SAMPLERS = [
    "bits",
    "uniform",
    "randint",
    "permutation",
    "choice",
    "normal",
    "multivariate_normal",
    "truncated_normal",
    "bernoulli",
    "beta",
    "cauchy",
    "dirichlet",
    "exponential",
    "gamma",
    "loggamma",
    "poisson",
    "gumbel",
    "categorical",
    "laplace",
    "logistic",
    "pareto",
    "t",
    "chisquare",
    "f",
    "rademacher",
    "maxwell",
    "double_sided_maxwell",
    "weibull_min",
    "orthogonal",
    "generalized_normal",
    "ball",
    "rayleigh",
    "wald",
    "geometric",
    "triangular",
    "lognormal",
    "binomial",
    "multinomial",
]
# The jax.nn initializers flax 0.12 binds; normal, uniform, orthogonal and
# truncated_normal are left out because the samplers of those names take them.
INITIALIZERS = [
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
]


class RandomMethods:
    """Mixin: ``self()`` gives the next key; the samplers and initializers use it.

    >>> from nnx_variables import Rngs
    >>> rngs = Rngs(0)
    >>> rngs.normal((2, 3)).shape, rngs.params.uniform((4,)).shape
    ((2, 3), (4,))
    >>> rngs.lecun_normal()((3, 2)).shape
    (3, 2)
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def __call__(self) -> jax.Array: ...

        def __getattr__(self, name: str) -> Callable[..., Any]: ...


def _sampler(name: str) -> Callable[..., jax.Array]:
    sample = getattr(jax.random, name)

    def method(self: RandomMethods, *args: Any, **kwargs: Any) -> jax.Array:
        return sample(self(), *args, **kwargs)  # type: ignore[no-any-return]

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``jax.random.{name}`` with this stream's next key."
    return method


def _initializer(name: str) -> Callable[..., Callable[..., jax.Array]]:
    build = getattr(jax.nn.initializers, name)

    def method(self: RandomMethods, *args: Any, **kwargs: Any) -> Callable[..., jax.Array]:
        init = build(*args, **kwargs)

        def keyless(*init_args: Any, **init_kwargs: Any) -> jax.Array:
            return init(self(), *init_args, **init_kwargs)  # type: ignore[no-any-return]

        return keyless

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"``jax.nn.initializers.{name}(...)`` with this stream's key bound: "
        "call the result as ``init(shape, dtype)``."
    )
    return method


for _name in SAMPLERS:
    setattr(RandomMethods, _name, _sampler(_name))
for _name in INITIALIZERS:
    setattr(RandomMethods, _name, _initializer(_name))
