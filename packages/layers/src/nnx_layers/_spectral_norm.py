"""SpectralNorm: a wrapper that divides a layer's matrices by their largest singular value.

As in flax.nnx 0.12.8 (https://arxiv.org/abs/1802.05957): sigma is estimated by
``n_steps`` of power iteration from a stored vector ``u``, and the normalised weight is
written back into the wrapped layer's own Variable before it is called. ``u`` and
``sigma`` are ``BatchStat`` in a dict ``{(*path, 'u'): ..., (*path, 'sigma'): ...}`` (the
state path ``batch_stats/('kernel', 'u')``), updated by calls in training mode, so
``model.eval()`` (``use_running_average=True``) freezes them like BatchNorm's statistics.
Vectors and scalars are left alone; higher-rank weights are viewed as matrices of their
last axis (``(-1, out)``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module, Path, Variable, describe, format_path, message, state, to_flat_state
from nnx_layers._checks import check_array
from nnx_layers._weight_norm import l2_normalize, result_dtype
from nnx_layers.initializers import normal
from nnx_variables import BatchStat, Param, Rngs


class SpectralNorm(Module):
    """Wrap ``layer_instance`` so each weight matrix has spectral norm (about) one.

    >>> import jax.numpy as jnp
    >>> from nnx_layers import Linear
    >>> rngs = Rngs(0)
    >>> layer = SpectralNorm(Linear(4, 5, rngs=rngs), rngs=rngs)
    >>> layer(jnp.ones((3, 4)), update_stats=True).shape
    (3, 5)
    >>> layer.batch_stats[("kernel", "u")].shape
    (1, 5)

    Args:
        error_on_non_matrix: raise for a weight of rank above 2 instead of flattening its
            leading axes.
        update_stats: the default of the call's ``update_stats`` (stored as
            ``use_running_average = not update_stats`` so ``.train()`` and ``.eval()``
            switch it).
    """

    def __init__(
        self,
        layer_instance: Module,
        *,
        n_steps: int = 1,
        epsilon: float = 1e-12,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        error_on_non_matrix: bool = False,
        update_stats: bool = True,
        rngs: Rngs,
    ) -> None:
        self.layer_instance = layer_instance
        self.n_steps = n_steps
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.error_on_non_matrix = error_on_non_matrix
        self.use_running_average = not update_stats
        params = [
            (path, param)
            for path, param in to_flat_state(state(layer_instance, Param))
            if self._normalizes(param)
        ]
        self._check_ranks(params, "nnx.SpectralNorm")
        batch_stats: dict[Path, BatchStat[jax.Array]] = {}
        for path, param in params:
            key = rngs.params()  # one key per matrix, in path order, as flax draws them
            u = normal()(key, (1, param.shape[-1]), param_dtype)
            batch_stats[(*path, "u")] = BatchStat(u)
            batch_stats[(*path, "sigma")] = BatchStat(jnp.ones((), param_dtype))
        self.batch_stats = batch_stats

    def _normalizes(self, param: Variable[Any]) -> bool:
        return param.ndim > 1 and self.n_steps >= 1

    def _check_ranks(self, params: list[tuple[Path, Variable[Any]]], op: str) -> None:
        if not self.error_on_non_matrix:
            return
        bad = [(path, p) for path, p in params if p.ndim > 2]
        if bad:
            raise ValueError(
                message(
                    f"{op}: the wrapped layer has weights of rank above 2 "
                    "and error_on_non_matrix is True.",
                    [f"{format_path(path, 'layer_instance')}: {describe(p)}" for path, p in bad],
                    expected="matrices (rank 2); vectors and scalars are left alone",
                    fix="nnx.SpectralNorm(layer, error_on_non_matrix=False, rngs=rngs)",
                )
            )

    def __call__(self, x: jax.Array, update_stats: bool | None = None) -> Any:
        """Normalise the wrapped layer's matrices in place, then call it on ``x``.

        ``update_stats`` (default: ``not self.use_running_average``) stores the new
        ``u`` and ``sigma``, so the estimate improves from call to call.
        """
        check_array(self, x)  # before any weight changes
        if update_stats is None:
            update_stats = not self.use_running_average
        params = [
            (path, param)
            for path, param in to_flat_state(state(self.layer_instance, Param))
            if self._normalizes(param)
        ]
        self._check_ranks(params, "SpectralNorm.__call__")
        self._check_stats(params)
        for path, param in params:
            self._normalize(path, param, update_stats)
        return self.layer_instance(x)  # type: ignore[operator]  # layers define __call__

    def _check_stats(self, params: list[tuple[Path, Variable[Any]]]) -> None:
        stats = self.batch_stats
        missing = [
            (path, p)
            for path, p in params
            if (*path, "u") not in stats or (*path, "sigma") not in stats
        ]
        if missing:
            raise RuntimeError(
                message(
                    "SpectralNorm.__call__: the wrapped layer has matrices with no u/sigma.",
                    [
                        f"{format_path(path, 'layer_instance')}: {describe(p)}"
                        for path, p in missing
                    ],
                    expected=f"the matrices the statistics were made for: {sorted(stats)}",
                    fix="build the SpectralNorm after the layer has all its parameters",
                )
            )

    def _normalize(self, path: Path, param: Variable[Any], update_stats: bool) -> None:
        shape = param.shape
        weight = param[...]
        matrix = weight.reshape(-1, shape[-1]) if weight.ndim > 2 else weight
        u = self.batch_stats[(*path, "u")][...]
        v = u
        for _ in range(self.n_steps):
            v = l2_normalize(jnp.matmul(u, matrix.T), eps=self.epsilon)
            u = l2_normalize(jnp.matmul(v, matrix), eps=self.epsilon)
        u = jax.lax.stop_gradient(u)
        v = jax.lax.stop_gradient(v)
        sigma = jnp.matmul(jnp.matmul(v, matrix), u.T)[0, 0]
        normalized = (matrix / jnp.where(sigma != 0, sigma, 1)).reshape(shape)
        if update_stats:
            self.batch_stats[(*path, "u")][...] = u
            self.batch_stats[(*path, "sigma")][...] = sigma
        param[...] = jnp.asarray(
            normalized, result_dtype(normalized, u, v, sigma, dtype=self.dtype)
        )
