"""Recurrent cells: one step ``(carry, x) -> (new_carry, y)`` of an RNN.

A cell's parameters are ``Linear`` layers named as in flax.nnx (``ii``/``hi``, ... for
LSTMCell; ``dense_i``/``dense_h`` for the fused cells), drawn in the same order, so a
ported model has the same state and numbers. ``initialize_carry(input_shape)`` builds
the state before the first step for inputs ``(*batch, features)``, with ``carry_init``
(zeros by default) and one key per array from ``rngs.carry``: the ``rngs`` given, else
the stream the cell kept with ``keep_rngs=True``. Every cell, built in or written by a
user, subclasses ``RNNCellBase``, whose three members are what ``RNN`` calls.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module, describe, message
from nnx_layers._cell_base import RNNCellBase
from nnx_layers._dtypes import PromoteDtype
from nnx_layers._dtypes import promote_dtype as default_promote_dtype
from nnx_layers._linear import Linear
from nnx_layers._params import NO_METADATA, check_metadata
from nnx_layers.initializers import Initializer, lecun_normal, orthogonal, zeros_init
from nnx_variables import Rngs, RngStream


class _Cell(RNNCellBase):
    hidden_features: int
    param_dtype: Any
    rngs: RngStream | None
    carry_init: Initializer | None

    def _keep(
        self,
        rngs: Rngs,
        keep_rngs: bool,
        carry_init: Initializer | None,
        promote_dtype: PromoteDtype,
    ) -> None:
        """Store the carry's stream, initializer and the dtype hook, before any Linear draws.

        The fork takes one key from ``rngs.carry`` (the default stream when there is no
        ``carry`` one); taking it before the parameters draw keeps them equal to those of
        flax.nnx's cell built with the same arguments.
        """
        name = type(self).__name__
        if keep_rngs:
            warnings.warn(
                f"nnx.{name}(keep_rngs=True) is deprecated: give the keys where the carry "
                "is made instead, cell.initialize_carry(shape, rngs=rngs) or "
                "nnx.RNN(cell, rngs=rngs).",
                stacklevel=3,
            )
        self.rngs = rngs.carry.fork() if keep_rngs else None
        if carry_init is not None:
            warnings.warn(
                f"nnx.{name}(carry_init=...): an initializer given to the constructor is "
                "part of the cell's graphdef, so two cells that differ only in it have "
                "different graphdefs; pass it to cell.initialize_carry(shape, rngs, "
                "carry_init=...) instead.",
                stacklevel=3,
            )
        self.carry_init = carry_init
        self.promote_dtype = promote_dtype

    def _carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None,
        carry_init: Initializer | None,
        parts: int,
    ) -> list[jax.Array]:
        """``parts`` arrays of shape ``(*batch, hidden_features)``, each drawn with its own key."""
        op = f"nnx.{type(self).__name__}.initialize_carry"
        if rngs is not None and not isinstance(rngs, (Rngs, RngStream)):
            raise TypeError(
                message(
                    f"{op}: rngs must be an nnx.Rngs or an RngStream, got {describe(rngs)}.",
                    expected="the streams to draw the carry's keys from (None: the cell's own)",
                    fix=f"cell.initialize_carry({tuple(input_shape)}, rngs=nnx.Rngs(carry=0))",
                )
            )
        stream = self.rngs if rngs is None else rngs
        if isinstance(stream, Rngs):
            stream = stream.carry
        init = self.carry_init if carry_init is None else carry_init
        shape = (*input_shape[:-1], self.hidden_features)
        if stream is None:
            if init is None:
                # Flax NNX 0.12 raises here; 0.10 gave zeros, which need no key.
                return [jnp.zeros(shape, self.param_dtype) for _ in range(parts)]
            raise ValueError(
                message(
                    f"{op}: carry_init draws random values but no rngs were given, and the "
                    "cell keeps none (it was built with keep_rngs=False).",
                    expected="rngs= here, or a cell built with keep_rngs=True",
                    fix=f"cell.initialize_carry({tuple(input_shape)}, rngs=nnx.Rngs(carry=0))",
                )
            )
        # Zeros draw their keys too (as flax does), so the stream's count, and every
        # key it gives later, is the same whichever carry_init is used.
        init = zeros_init() if init is None else init
        return [init(stream(), shape, self.param_dtype) for _ in range(parts)]

    @property
    def num_feature_axes(self) -> int:
        """Inputs carry their features on one trailing axis."""
        return 1


class SimpleCell(_Cell):
    """``h' = activation(x @ W_i + b + h @ W_h (+ h if residual))``; output ``h'``.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> cell = SimpleCell(3, 4, rngs=Rngs(0))
    >>> h = cell.initialize_carry((2, 3))
    >>> h, y = cell(h, jnp.ones((2, 3)))
    >>> h.shape, bool((h == y).all())
    ((2, 4), True)
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        dtype: Any = jnp.float32,
        param_dtype: Any = jnp.float32,
        residual: bool = False,
        activation_fn: Callable[..., Any] = jnp.tanh,
        kernel_init: Initializer = lecun_normal(),  # noqa: B008  (pure function)
        recurrent_kernel_init: Initializer = orthogonal(),  # noqa: B008
        bias_init: Initializer = zeros_init(),  # noqa: B008
        carry_init: Initializer | None = None,
        promote_dtype: PromoteDtype = default_promote_dtype,
        keep_rngs: bool = False,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        self._keep(rngs, keep_rngs, carry_init, promote_dtype)
        common = dict(
            out_features=hidden_features,
            dtype=dtype,
            param_dtype=param_dtype,
            promote_dtype=promote_dtype,
            rngs=rngs,
        )
        self.dense_h = _dense(
            hidden_features, (recurrent_kernel_init, recurrent_kernel_metadata), None, **common
        )
        self.dense_i = _dense(
            in_features, (kernel_init, kernel_metadata), (bias_init, bias_metadata), **common
        )
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.residual = residual
        self.activation_fn = activation_fn

    def __call__(self, carry: jax.Array, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step: the new hidden state, twice (as carry and as output)."""
        h = self.dense_i(inputs) + self.dense_h(carry)
        if self.residual:
            h = h + carry
        h = self.activation_fn(h)
        return h, h

    def initialize_carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None = None,
        carry_init: Initializer | None = None,
    ) -> jax.Array:
        """The initial hidden state for inputs of ``input_shape`` (zeros by default)."""
        (h,) = self._carry(input_shape, rngs, carry_init, 1)
        return h


class LSTMCell(_Cell):
    """A long short-term memory step with one ``Linear`` per gate and source.

    Carry ``(c, h)``: ``i, f, o = sigmoid(...)``, ``g = tanh(...)``, ``c' = f c + i g``,
    ``h' = o tanh(c')``. Input kernels ``ii, if_, ig, io`` have no bias; recurrent
    kernels ``hi, hf, hg, ho`` (orthogonal) do.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> cell = LSTMCell(3, 4, rngs=Rngs(0))
    >>> (c, h), y = cell(cell.initialize_carry((2, 3)), jnp.ones((2, 3)))
    >>> c.shape, h.shape, y.shape
    ((2, 4), (2, 4), (2, 4))
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        gate_fn: Callable[..., Any] = jax.nn.sigmoid,
        activation_fn: Callable[..., Any] = jnp.tanh,
        kernel_init: Initializer = lecun_normal(),  # noqa: B008  (pure function)
        recurrent_kernel_init: Initializer = orthogonal(),  # noqa: B008
        bias_init: Initializer = zeros_init(),  # noqa: B008
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        carry_init: Initializer | None = None,
        promote_dtype: PromoteDtype = default_promote_dtype,
        keep_rngs: bool = False,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        self._keep(rngs, keep_rngs, carry_init, promote_dtype)
        common = dict(
            out_features=hidden_features,
            dtype=dtype,
            param_dtype=param_dtype,
            promote_dtype=promote_dtype,
            rngs=rngs,
        )

        def dense_i() -> Linear:
            return _dense(in_features, (kernel_init, kernel_metadata), None, **common)

        def dense_h() -> Linear:
            return _dense(
                hidden_features,
                (recurrent_kernel_init, recurrent_kernel_metadata),
                (bias_init, bias_metadata),
                **common,
            )

        self.ii, self.if_, self.ig, self.io = dense_i(), dense_i(), dense_i(), dense_i()
        self.hi, self.hf, self.hg, self.ho = dense_h(), dense_h(), dense_h(), dense_h()
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.gate_fn = gate_fn
        self.activation_fn = activation_fn
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(
        self, carry: tuple[jax.Array, jax.Array], inputs: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        """One step: the new ``(c, h)`` and the output ``h``."""
        c, h = carry
        i = self.gate_fn(self.ii(inputs) + self.hi(h))
        f = self.gate_fn(self.if_(inputs) + self.hf(h))
        g = self.activation_fn(self.ig(inputs) + self.hg(h))
        o = self.gate_fn(self.io(inputs) + self.ho(h))
        return _lstm_update(self, c, i, f, g, o)

    def initialize_carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None = None,
        carry_init: Initializer | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """The initial ``(c, h)`` for inputs of ``input_shape`` (zeros by default)."""
        c, h = self._carry(input_shape, rngs, carry_init, 2)
        return c, h


def _lstm_update(
    cell: Any, c: jax.Array, i: jax.Array, f: jax.Array, g: jax.Array, o: jax.Array
) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    new_c = f * c + i * g
    new_h = o * cell.activation_fn(new_c)
    return (new_c, new_h), new_h


class OptimizedLSTMCell(LSTMCell):
    """LSTMCell with the four gates fused into two matmuls (``dense_i``, ``dense_h``).

    Same function as ``LSTMCell``, fewer and larger kernels: ``(in, 4 * hidden)`` and
    ``(hidden, 4 * hidden)``, gates in the order i, f, g, o.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> cell = OptimizedLSTMCell(3, 4, rngs=Rngs(0))
    >>> cell.dense_h.kernel.shape
    (4, 16)
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        gate_fn: Callable[..., Any] = jax.nn.sigmoid,
        activation_fn: Callable[..., Any] = jnp.tanh,
        kernel_init: Initializer = lecun_normal(),  # noqa: B008  (pure function)
        recurrent_kernel_init: Initializer = orthogonal(),  # noqa: B008
        bias_init: Initializer = zeros_init(),  # noqa: B008
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        carry_init: Initializer | None = None,
        promote_dtype: PromoteDtype = default_promote_dtype,
        keep_rngs: bool = False,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        self._keep(rngs, keep_rngs, carry_init, promote_dtype)
        common = dict(
            out_features=4 * hidden_features,
            dtype=dtype,
            param_dtype=param_dtype,
            promote_dtype=promote_dtype,
            rngs=rngs,
        )
        self.dense_i = _dense(in_features, (kernel_init, kernel_metadata), None, **common)
        self.dense_h = _dense(
            hidden_features,
            (recurrent_kernel_init, recurrent_kernel_metadata),
            (bias_init, bias_metadata),
            **common,
        )
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.gate_fn = gate_fn
        self.activation_fn = activation_fn
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(
        self, carry: tuple[jax.Array, jax.Array], inputs: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        """One step: the new ``(c, h)`` and the output ``h``."""
        c, h = carry
        i, f, g, o = jnp.split(self.dense_i(inputs) + self.dense_h(h), 4, axis=-1)
        gate = self.gate_fn
        return _lstm_update(self, c, gate(i), gate(f), self.activation_fn(g), gate(o))


class GRUCell(_Cell):
    """A gated recurrent unit step: reset ``r``, update ``z``, candidate ``n``.

    ``h' = (1 - z) n + z h`` with ``n = tanh(x W_n + b_n + r (h U_n))``. ``dense_i``
    (with bias) and ``dense_h`` (orthogonal, no bias) hold the three gates fused.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Rngs
    >>> cell = GRUCell(3, 4, rngs=Rngs(0))
    >>> h, y = cell(cell.initialize_carry((2, 3)), jnp.ones((2, 3)))
    >>> h.shape, cell.dense_i.kernel.shape
    ((2, 4), (3, 12))
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        gate_fn: Callable[..., Any] = jax.nn.sigmoid,
        activation_fn: Callable[..., Any] = jnp.tanh,
        kernel_init: Initializer = lecun_normal(),  # noqa: B008  (pure function)
        recurrent_kernel_init: Initializer = orthogonal(),  # noqa: B008
        bias_init: Initializer = zeros_init(),  # noqa: B008
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        carry_init: Initializer | None = None,
        promote_dtype: PromoteDtype = default_promote_dtype,
        keep_rngs: bool = False,
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        self._keep(rngs, keep_rngs, carry_init, promote_dtype)
        common = dict(
            out_features=3 * hidden_features,
            dtype=dtype,
            param_dtype=param_dtype,
            promote_dtype=promote_dtype,
            rngs=rngs,
        )
        self.dense_i = _dense(
            in_features, (kernel_init, kernel_metadata), (bias_init, bias_metadata), **common
        )
        self.dense_h = _dense(
            hidden_features, (recurrent_kernel_init, recurrent_kernel_metadata), None, **common
        )
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.gate_fn = gate_fn
        self.activation_fn = activation_fn
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(self, carry: jax.Array, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step: the new hidden state, twice (as carry and as output)."""
        xr, xz, xn = jnp.split(self.dense_i(inputs), 3, axis=-1)
        hr, hz, hn = jnp.split(self.dense_h(carry), 3, axis=-1)
        r = self.gate_fn(xr + hr)
        z = self.gate_fn(xz + hz)
        n = self.activation_fn(xn + r * hn)
        h = (1.0 - z) * n + z * carry
        return h, h

    def initialize_carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None = None,
        carry_init: Initializer | None = None,
    ) -> jax.Array:
        """The initial hidden state for inputs of ``input_shape`` (zeros by default)."""
        (h,) = self._carry(input_shape, rngs, carry_init, 1)
        return h


def _check_metadata(cell: Module, *metadata: Mapping[str, Any]) -> None:
    """Refuse a metadata keyword that is not a mapping before the first Linear draws."""
    names = ("kernel_metadata", "recurrent_kernel_metadata", "bias_metadata")
    check_metadata(f"nnx.{type(cell).__name__}", **dict(zip(names, metadata, strict=True)))


def _dense(
    in_features: int,
    kernel: tuple[Initializer, Mapping[str, Any]],
    bias: tuple[Initializer, Mapping[str, Any]] | None,
    **common: Any,
) -> Linear:
    """One of a cell's Linears: ``kernel`` and ``bias`` are (initializer, metadata) pairs."""
    bias_init, bias_metadata = bias if bias is not None else (zeros_init(), NO_METADATA)
    kernel_init, kernel_metadata = kernel
    return Linear(
        in_features,
        use_bias=bias is not None,
        kernel_init=kernel_init,
        bias_init=bias_init,
        kernel_metadata=kernel_metadata,
        bias_metadata=bias_metadata,
        **common,
    )
