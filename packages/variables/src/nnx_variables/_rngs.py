"""Rngs: named streams of PRNG keys whose state travels with the model.

``Rngs(0)`` holds one stream, ``default``; ``Rngs(params=0, dropout=1)`` holds two.
Each call of a stream returns ``fold_in(key, count)`` and increments ``count``, so the
n-th key of a stream is fixed by its seed. Asking for a stream that does not exist
falls back to ``default``. Keys and counts are Variables (``RngKey``, ``RngCount``), so
``split``, ``merge`` and the transforms carry them like any other state, and a Dropout
that keeps a reference to an Rngs draws new masks inside ``jit``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnx_graph import Filter, Object, Variable, message, to_predicate
from nnx_variables._random import RandomMethods


class RngState(Variable[jax.Array]):
    """Base kind of the Variables an RngStream holds."""


class RngKey(RngState):
    """The key of one RNG stream (a typed ``jax.random.key``)."""


class RngCount(RngState):
    """How many keys one RNG stream has handed out (uint32)."""


def to_key(seed: Any, stream: str) -> jax.Array:
    """Turn a seed (an int, an int array, or a key) into a typed PRNG key."""
    if isinstance(seed, Variable):
        seed = seed.value
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | jax.Array | np.ndarray):
        raise TypeError(_seed_error(stream, seed))
    if isinstance(seed, int | np.integer):
        return jax.random.key(int(seed))
    array = jnp.asarray(seed)
    if jnp.issubdtype(array.dtype, jax.dtypes.prng_key):
        return array
    if array.dtype == jnp.uint32 and array.shape[-1:] == (2,):  # a legacy raw key
        wrapped: jax.Array = jax.random.wrap_key_data(array)
        return wrapped
    if jnp.issubdtype(array.dtype, jnp.integer) and array.ndim == 0:
        return jax.random.key(array)
    raise TypeError(_seed_error(stream, seed))


def _seed_error(stream: str, seed: Any) -> str:
    from nnx_graph import describe

    return message(
        f"nnx.Rngs: invalid seed for stream {stream!r}: {describe(seed)}.",
        expected="an int seed, a scalar integer array, or a key from jax.random.key",
        fix=f"nnx.Rngs({stream}=0)" if stream != "default" else "nnx.Rngs(0)",
    )


class RngStream(Object, RandomMethods):
    """One named stream: a key and a counter.

    Besides ``stream()`` (the next key), a stream has the jax.random samplers bound to
    it: ``stream.normal((2, 3))``, ``stream.uniform(...)``, ``stream.bernoulli(p)``, ...

    >>> import jax
    >>> stream = RngStream(jax.random.key(0), tag='params')
    >>> first = stream()
    >>> bool((first == jax.random.fold_in(jax.random.key(0), 0)).all()), int(stream.count.value)
    (True, 1)
    """

    def __init__(self, key: Any, *, tag: str) -> None:
        typed_key = to_key(key, tag)
        self.key = RngKey(typed_key, tag=tag)
        # One count per key: a stream forked with ``split=n`` holds n keys, and under
        # vmap each lane must fold in (and advance) its own count, not a shared scalar.
        self.count = RngCount(jnp.zeros(typed_key.shape, dtype=jnp.uint32), tag=tag)
        self.tag = tag

    def __call__(self) -> jax.Array:
        key = jax.random.fold_in(self.key.value, self.count.value)
        self.count.value = self.count.value + 1
        return key

    def fork(self, *, split: int | tuple[int, ...] | None = None) -> RngStream:
        """A new independent stream seeded from this one (``split`` keys if given)."""
        key = self()
        if split is not None:
            key = jax.random.split(key, split)
        return RngStream(key, tag=self.tag)

    def split(self, k: int | tuple[int, ...]) -> RngStream:
        """A new stream holding ``k`` keys split from this one's next key (as Flax NNX 0.12).

        >>> import jax
        >>> RngStream(jax.random.key(0), tag='params').split(4).key.shape
        (4,)
        """
        return RngStream(jax.random.split(self(), k), tag=self.tag)


class Rngs(Object, RandomMethods):
    """A set of named RNG streams, with ``default`` as the fallback.

    The jax.random samplers are bound to the default stream: ``rngs.normal((2, 3))``
    (``rngs.params.normal(...)`` for another stream).

    >>> rngs = Rngs(0, dropout=1)
    >>> sorted(rngs.keys())
    ['default', 'dropout']
    >>> rngs.params.tag          # no 'params' stream: falls back to default
    'default'
    >>> rngs().shape == rngs.default().shape
    True
    """

    def __init__(self, default: Any = None, /, **streams: Any) -> None:
        if default is not None:
            streams = {**streams, "default": default}  # flax lists the default last
        if isinstance(default, Mapping):
            streams = {**default, **{k: v for k, v in streams.items() if k != "default"}}
        for name, seed in streams.items():
            setattr(self, name, seed if isinstance(seed, RngStream) else RngStream(seed, tag=name))

    def _stream(self, name: str) -> RngStream:
        streams = vars(self)
        if name in streams:
            return streams[name]  # type: ignore[no-any-return]
        if "default" in streams:
            return streams["default"]  # type: ignore[no-any-return]
        raise AttributeError(
            message(
                f"nnx.Rngs has no stream {name!r} and no 'default' stream to fall back on.",
                [f"streams: {', '.join(sorted(streams)) or 'none'}"],
                expected=f"a stream named {name!r} or a default seed",
                fix=f"nnx.Rngs({name}=0) or nnx.Rngs(0)",
            )
        )

    def __getattr__(self, name: str) -> RngStream:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._stream(name)

    def __getitem__(self, name: str) -> RngStream:
        return self._stream(name)

    def __call__(self) -> jax.Array:
        return self._stream("default")()

    def __contains__(self, name: object) -> bool:
        return isinstance(vars(self).get(name), RngStream)  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        """The names of the streams held (not the fallback names ``rngs[...]`` accepts)."""
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def keys(self) -> Iterator[str]:
        """Names of the streams held."""
        return iter(name for name, v in vars(self).items() if isinstance(v, RngStream))

    def values(self) -> Iterator[RngStream]:
        """The streams held."""
        return iter(v for v in vars(self).values() if isinstance(v, RngStream))

    def items(self) -> Iterator[tuple[str, RngStream]]:
        """The streams held, by name."""
        return iter((n, v) for n, v in vars(self).items() if isinstance(v, RngStream))

    def fork(self, *, split: int | tuple[int, ...] | None = None) -> Rngs:
        """New Rngs with a stream seeded from each of these (``split`` keys each if given)."""
        forked = Rngs()
        for name, stream in self.items():
            setattr(forked, name, stream.fork(split=split))
        return forked

    def split(
        self, k: int | tuple[int, ...] | Mapping[Filter, int | tuple[int, ...] | None]
    ) -> Rngs:
        """New Rngs whose streams hold ``k`` keys each, split from these streams' next keys.

        ``k`` may map filters to split sizes (``None``: keep the stream as it is); the first
        filter that selects a stream (by its name or its key's ``tag``) decides, and
        streams no filter selects are kept (shared, as in Flax NNX 0.12).

        >>> rngs = Rngs(params=0, dropout=1)
        >>> split = rngs.split({'params': 4, ...: None})
        >>> split.params.key.shape, split.dropout is rngs.dropout
        ((4,), True)
        """
        sizes = k if isinstance(k, Mapping) else {...: k}
        predicates = [(to_predicate(f), n) for f, n in sizes.items()]
        streams: dict[str, RngStream] = {}
        for name, stream in self.items():
            streams[name] = stream
            for predicate, n in predicates:
                if predicate((name, "key"), stream.key):
                    if n is not None:
                        streams[name] = stream.split(n)
                    break
        return Rngs(**streams)
