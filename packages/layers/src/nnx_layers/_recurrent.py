"""Recurrent cells: one step ``(carry, x) -> (new_carry, y)`` of an RNN.

A cell's parameters are ``Linear`` layers named as in flax.nnx (``ii``/``hi``, ... for
LSTMCell; ``dense_i``/``dense_h`` for the fused cells), drawn in the same order, so a
ported model has the same state and numbers. ``initialize_carry(input_shape)`` builds
the zero state for inputs ``(*batch, features)``; a ``carry_init`` other than zeros draws
its keys from ``rngs.carry``. Every cell, built in or written by a user, subclasses
``RNNCellBase``, whose three members are what ``RNN`` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Module, message
from nnx_layers._linear import Linear
from nnx_layers._params import NO_METADATA, check_metadata
from nnx_layers.initializers import Initializer, lecun_normal, orthogonal, zeros_init
from nnx_variables import Rngs, RngStream

Carry = Any


class RNNCellBase(Module):
    """The base class of recurrent cells: one step, its initial carry, its feature axes.

    ``RNN`` scans any subclass over a sequence, so a custom cell overrides the three
    members below; each raises ``NotImplementedError`` until it is overridden, so a
    forgotten one fails on first use, naming itself.

    >>> import jax.numpy as jnp
    >>> class Accumulate(RNNCellBase):
    ...     def initialize_carry(self, input_shape, rngs=None, carry_init=None):
    ...         return jnp.zeros(input_shape)
    ...     def __call__(self, carry, inputs):
    ...         carry = carry + inputs
    ...         return carry, carry
    ...     @property
    ...     def num_feature_axes(self):
    ...         return 1
    >>> from nnx_layers import RNN
    >>> RNN(Accumulate())(jnp.ones((1, 3, 2)))[0, :, 0].tolist()
    [1.0, 2.0, 3.0]
    """

    def initialize_carry(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None = None,
        carry_init: Initializer | None = None,
    ) -> Carry:
        """The carry before the first step, for one step's input of ``input_shape``.

        Args:
            input_shape: the shape of one step's input, ``(*batch, features)``.
            rngs: the streams a random ``carry_init`` draws from.
            carry_init: how to fill the carry (zeros when not given).
        """
        raise NotImplementedError(
            _missing(
                self,
                "initialize_carry",
                "def initialize_carry(self, input_shape, rngs=None, carry_init=None): ...",
            )
        )

    def __call__(self, carry: Carry, inputs: jax.Array) -> tuple[Carry, Any]:
        """One step: ``(new_carry, output)`` from the carry and this step's ``inputs``."""
        raise NotImplementedError(
            _missing(self, "__call__", "def __call__(self, carry, inputs): ...")
        )

    @property
    def num_feature_axes(self) -> int:
        """How many trailing axes of an input are features (the rest: batch, time)."""
        raise NotImplementedError(
            _missing(
                self, "num_feature_axes", "@property\n    def num_feature_axes(self): return 1"
            )
        )


def _missing(cell: RNNCellBase, member: str, definition: str) -> str:
    """The message for a cell that left ``member`` to RNNCellBase: how to define it."""
    return message(
        f"{type(cell).__name__}.{member}: the cell does not define {member}, which "
        "RNNCellBase leaves to its subclasses.",
        expected=f"{type(cell).__name__} to override initialize_carry, __call__ and "
        "num_feature_axes",
        fix=f"class {type(cell).__name__}(nnx.RNNCellBase):\n    {definition}",
    )


class _Cell(RNNCellBase):
    hidden_features: int
    param_dtype: Any

    def _state(
        self,
        input_shape: tuple[int, ...],
        rngs: Rngs | RngStream | None,
        carry_init: Initializer | None,
    ) -> jax.Array:
        shape = (*input_shape[:-1], self.hidden_features)
        if carry_init is None:
            if rngs is not None:
                # flax.nnx draws a key for the zeros too; drawing it keeps the stream's
                # count, and so every later key, the same as in a model ported from flax.
                (rngs.carry if isinstance(rngs, Rngs) else rngs)()
            return jnp.zeros(shape, self.param_dtype)
        if rngs is None:
            raise ValueError(
                f"nnx.{type(self).__name__}.initialize_carry: carry_init draws random "
                "values but no rngs were given.\n"
                "Fix: cell.initialize_carry(shape, rngs=nnx.Rngs(carry=0), carry_init=...)"
            )
        stream = rngs.carry if isinstance(rngs, Rngs) else rngs
        return carry_init(stream(), shape, self.param_dtype)

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
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        common = dict(out_features=hidden_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
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
        return self._state(input_shape, rngs, carry_init)


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
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        common = dict(out_features=hidden_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

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
        return self._state(input_shape, rngs, carry_init), self._state(
            input_shape, rngs, carry_init
        )


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
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        common = dict(
            out_features=4 * hidden_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs
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
        kernel_metadata: Mapping[str, Any] = NO_METADATA,
        recurrent_kernel_metadata: Mapping[str, Any] = NO_METADATA,
        bias_metadata: Mapping[str, Any] = NO_METADATA,
        rngs: Rngs,
    ) -> None:
        _check_metadata(self, kernel_metadata, recurrent_kernel_metadata, bias_metadata)
        common = dict(
            out_features=3 * hidden_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs
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
        return self._state(input_shape, rngs, carry_init)


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
