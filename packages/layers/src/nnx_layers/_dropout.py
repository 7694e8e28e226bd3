"""Dropout: zero a random fraction of the inputs while training.

Dropout keeps a reference to the ``Rngs`` it was built with (it does not copy or fork
it), so the mask it draws on each call comes from the model's own RNG state: one key
from the ``dropout`` stream (``default`` when there is none), and that state travels
through ``split``, ``merge`` and every transform like the parameters do.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from nnx_graph import LayerInputError, Module, describe, message
from nnx_layers._checks import check_array
from nnx_variables import Rngs, RngStream


class Dropout(Module):
    """Randomly zero inputs with probability ``rate``; scale the rest by ``1 / (1 - rate)``.

    In training mode (``deterministic=False``) each call draws one key from
    ``rngs[rng_collection]`` and keeps each entry where
    ``jax.random.bernoulli(key, 1 - rate, shape)``; ``broadcast_dims`` share one mask
    value along those axes. ``deterministic=True`` (set by ``model.eval()``) or
    ``rate=0`` returns the input unchanged.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> dropout = Dropout(0.5, rngs=Rngs(0))
    >>> y = dropout(jnp.ones(8))
    >>> sorted(set(y.tolist())) <= [0.0, 2.0]
    True
    >>> dropout(jnp.ones(3), deterministic=True)
    Array([1., 1., 1.], dtype=float32)
    """

    def __init__(
        self,
        rate: float,
        *,
        broadcast_dims: tuple[int, ...] | list[int] = (),
        deterministic: bool = False,
        rng_collection: str = "dropout",
        rngs: Rngs | RngStream | None = None,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(
                message(
                    f"nnx.Dropout: rate must be a probability in [0, 1], got {describe(rate)}.",
                    expected="the fraction of inputs to drop (not the keep rate)",
                    fix="nnx.Dropout(rate=0.1, rngs=rngs)",
                )
            )
        if rngs is not None and not isinstance(rngs, Rngs | RngStream):
            raise TypeError(
                message(
                    f"nnx.Dropout: rngs must be an nnx.Rngs, got {describe(rngs)}.",
                    expected="the model's Rngs object (Dropout keeps a reference to it)",
                    fix="nnx.Dropout(rate, rngs=nnx.Rngs(dropout=0))",
                )
            )
        self.rate = float(rate)
        self.broadcast_dims = tuple(broadcast_dims)
        self.deterministic = deterministic
        self.rng_collection = rng_collection
        self.rngs = rngs

    def __call__(
        self,
        inputs: jax.Array,
        *,
        deterministic: bool | None = None,
        rngs: Rngs | RngStream | jax.Array | None = None,
    ) -> jax.Array:
        """Drop entries of ``inputs``; arguments given here override the stored ones."""
        check_array(self, inputs)
        deterministic = self.deterministic if deterministic is None else deterministic
        if self.rate == 0.0 or deterministic:
            return inputs
        x = jnp.asarray(inputs)
        # A keep rate of 0 would divide by zero and give NaN gradients through the select.
        if self.rate == 1.0:
            return jnp.zeros_like(x)
        key = self._key(rngs)
        keep_rate = 1.0 - self.rate
        mask_shape = list(x.shape)
        for dim in self.broadcast_dims:
            mask_shape[dim] = 1
        sharding = _explicit_sharding(x)
        if sharding is None:
            mask = jax.random.bernoulli(key, p=keep_rate, shape=tuple(mask_shape))
            mask = jnp.broadcast_to(mask, x.shape)
        else:
            mask = _sharded_mask(key, keep_rate, tuple(mask_shape), x, sharding)
        return lax.select(mask, x / keep_rate, jnp.zeros_like(x))

    def _key(self, rngs: Rngs | RngStream | jax.Array | None) -> jax.Array:
        source = self.rngs if rngs is None else rngs
        if isinstance(source, Rngs):
            return source[self.rng_collection]()
        if isinstance(source, RngStream):
            return source()
        if source is None:
            raise LayerInputError(
                self,
                f"in training mode (rate={self.rate}) Dropout needs random keys, but it was "
                "built without rngs and none were passed to the call",
                fix=(
                    "one of\n"
                    "  1. build it with an Rngs: nnx.Dropout(rate, rngs=nnx.Rngs(dropout=0))\n"
                    "  2. pass one to the call: dropout(x, rngs=nnx.Rngs(dropout=0))\n"
                    "  3. turn it off for inference: dropout(x, deterministic=True), "
                    "or model.eval()"
                ),
            )
        if isinstance(source, jax.Array) and (
            jnp.issubdtype(source.dtype, jax.dtypes.prng_key) or source.dtype == jnp.uint32
        ):
            return source
        raise LayerInputError(
            self,
            f"rngs must be an nnx.Rngs, an RngStream or a PRNG key, got {describe(source)}",
            fix="dropout(x, rngs=nnx.Rngs(dropout=0)) or dropout(x, rngs=jax.random.key(0))",
        )


def _explicit_sharding(x: jax.Array) -> Any:
    """The sharding of ``x`` when it is sharded over Explicit mesh axes, else None."""
    sharding = jax.typeof(x).sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty or jax.sharding.AxisType.Explicit not in mesh.axis_types:
        return None
    return sharding


def _sharded_mask(
    key: jax.Array, keep_rate: float, shape: tuple[int, ...], x: jax.Array, sharding: Any
) -> jax.Array:
    """A mask sharded as ``x``: under Explicit axes ``select`` refuses any other.

    flax 0.12 passes the input's sharding to ``bernoulli`` likewise. The broadcast
    dimensions have size 1, so the drawn mask is replicated along them, and resharded
    after the broadcast. Only here, so unsharded masks stay jax's default draws.
    """
    spec = [*sharding.spec, *[None] * (x.ndim - len(sharding.spec))]
    spec = [None if n == 1 else entry for n, entry in zip(shape, spec, strict=True)]
    drawn_spec = jax.sharding.PartitionSpec(*spec)  # type: ignore[no-untyped-call]  # jax: unannotated
    drawn = jax.sharding.NamedSharding(sharding.mesh, drawn_spec)
    mask = jax.random.bernoulli(key, p=keep_rate, shape=shape, out_sharding=drawn)
    mask = jnp.broadcast_to(mask, x.shape)
    placed: jax.Array = jax.sharding.reshard(mask, sharding)  # type: ignore[no-untyped-call]  # jax: unannotated
    return placed
