"""RNN and Bidirectional: a recurrent cell applied over a sequence with ``nnx.scan``.

``RNN`` carries the whole cell through the scan (``StateAxes({...: Carry})`` unless
``state_axes`` says otherwise), so parameters are read and any state the cell writes
(RNG counts, statistics) flows back out, as in flax.nnx. Padded batches pass
``seq_lengths``: with ``reverse`` each sequence is flipped within its own length, so the
padding stays at the end, and with ``return_carry`` the carry returned is the one after
each sequence's last valid step, not after the padding. The cell's streams named by
``broadcast_rngs`` give the same key at every step (one dropout mask for the whole
sequence, recurrent dropout) and a new one at every call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from nnx_graph import All, Filter, Module, iter_graph, to_predicate
from nnx_transforms import Carry, StateAxes, scan
from nnx_variables import Rngs, RngState, RngStream

Output = Any


class RNNCell(Protocol):
    """What ``RNN`` needs from a cell: a step, its zero carry, and its feature axes."""

    num_feature_axes: int

    def __call__(self, carry: Any, inputs: jax.Array) -> tuple[Any, Any]: ...

    def initialize_carry(
        self, input_shape: tuple[int, ...], rngs: Rngs | RngStream | None = None
    ) -> Any: ...


def flip_sequences(
    inputs: jax.Array, seq_lengths: jax.Array | None, num_batch_dims: int, time_major: bool
) -> jax.Array:
    """Reverse each sequence along time within its own length, keeping padding at the end.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    >>> flip_sequences(x, jnp.array([1, 2, 3]), 1, False).tolist()
    [[1, 0, 0], [3, 2, 0], [6, 5, 4]]
    """
    time_axis = 0 if time_major else num_batch_dims
    steps = inputs.shape[time_axis]
    if seq_lengths is None:
        return jnp.flip(inputs, axis=time_axis)
    lengths = jnp.expand_dims(seq_lengths, axis=time_axis)
    shape = [steps] + [1] * num_batch_dims if time_major else [1] * num_batch_dims + [steps]
    idxs = jnp.reshape(jnp.arange(steps - 1, -1, -1), shape)
    idxs = (idxs + lengths) % steps
    idxs = idxs.reshape(idxs.shape + (1,) * (inputs.ndim - idxs.ndim))
    return jnp.take_along_axis(inputs, idxs, axis=time_axis)


@contextlib.contextmanager
def _broadcast_streams(cell: Any, only: Filter) -> Iterator[None]:
    """Give the cell's streams matching ``only`` one fresh key for the call, as flax does.

    flax's ``split_rngs(splits=1, squeeze=True)``: each stream draws its next key, split
    once and squeezed, with its count at zero; the scan broadcasts it to every step.
    Afterwards each stream has its own key back, one count further on (exactly as
    before, after an error), so the next call draws a different key.
    """
    predicate = to_predicate(All(RngState, only))
    streams: dict[int, RngStream] = {}
    for path, node in iter_graph(cell):
        if (
            isinstance(node, RngStream)
            and predicate((*path, "key"), node.key)
            and predicate((*path, "count"), node.count)
        ):
            streams.setdefault(id(node), node)
    saved = [(s, s.key.value, s.count.value) for s in streams.values()]
    for stream in streams.values():
        stream.key.value = jax.random.split(stream(), 1)[0]
        stream.count.value = jnp.zeros_like(stream.count.value)
    try:
        yield
    finally:
        for stream, key, count in saved:
            stream.key.value, stream.count.value = key, count
    for stream, _, count in saved:
        stream.count.value = count + 1


def _carry_stream(rngs: Rngs | RngStream | bool, op: str) -> RngStream | None:
    if rngs is True:
        return RngStream(0, tag="carry")
    if rngs is False:
        return None
    if isinstance(rngs, Rngs):
        return rngs.carry.fork()
    if isinstance(rngs, RngStream):
        return rngs
    raise TypeError(
        f"{op}: rngs must be an nnx.Rngs, an RngStream or a bool, got {type(rngs).__name__}.\n"
        f"Fix: {op}(..., rngs=nnx.Rngs(carry=0))"
    )


class RNN(Module):
    """Apply ``cell`` over the time axis of ``inputs`` (``(*batch, time, features)``).

    >>> import jax.numpy as jnp
    >>> from nnx_layers import LSTMCell
    >>> from nnx_variables import Rngs
    >>> rnn = RNN(LSTMCell(3, 4, rngs=Rngs(0)))
    >>> rnn(jnp.ones((2, 5, 3))).shape
    (2, 5, 4)

    Args:
        unroll: how many steps each iteration of the underlying loop runs.
        state_axes: ``{filter: axis}`` for the cell's state in the scan; by default
            everything is carried from step to step (``{...: nnx.Carry}``).
        broadcast_rngs: a filter of the cell's RNG streams that draw the same key at
            every step of a call (``'dropout'`` for one mask over the sequence).
        rngs: where ``initialize_carry`` draws the carry's keys: a stream of the RNN's
            own (``True``: seeded 0; an Rngs: its ``carry`` stream forked; an RngStream
            as given) or, with ``False``, the cell's own (the stream a cell built with
            ``keep_rngs=True`` kept; zeros need none). A call's ``rngs=`` wins.
    """

    def __init__(
        self,
        cell: RNNCell,
        *,
        time_major: bool = False,
        return_carry: bool = False,
        reverse: bool = False,
        keep_order: bool = False,
        unroll: int = 1,
        state_axes: Mapping[Any, int | Any | None] | None = None,
        broadcast_rngs: Filter = None,
        rngs: Rngs | RngStream | bool = True,
    ) -> None:
        self.cell = cell
        self.time_major = time_major
        self.return_carry = return_carry
        self.reverse = reverse
        self.keep_order = keep_order
        self.unroll = unroll
        self.rngs = _carry_stream(rngs, "nnx.RNN")
        self.state_axes = StateAxes(state_axes if state_axes is not None else {...: Carry})
        self.broadcast_rngs = broadcast_rngs

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: Any | None = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
        rngs: Rngs | RngStream | None = None,
    ) -> Output:
        """The outputs at every step, preceded by the final carry if ``return_carry``."""
        return_carry = self.return_carry if return_carry is None else return_carry
        time_major = self.time_major if time_major is None else time_major
        reverse = self.reverse if reverse is None else reverse
        keep_order = self.keep_order if keep_order is None else keep_order
        features = self.cell.num_feature_axes
        time_axis = 0 if time_major else inputs.ndim - (features + 1)
        num_batch = inputs.ndim - features - 1
        if reverse:
            inputs = flip_sequences(inputs, seq_lengths, num_batch, time_major)
        if rngs is None:
            rngs = self.rngs
        if isinstance(rngs, Rngs):
            rngs = rngs.carry.fork()
        if initial_carry is None:
            step_shape = inputs.shape[:time_axis] + inputs.shape[time_axis + 1 :]
            initial_carry = self.cell.initialize_carry(step_shape, rngs)

        # With seq_lengths the final carry is picked per sequence from the stacked history;
        # stacking it costs a (time, *carry) buffer, so only when the carry is asked for.
        slice_carry = seq_lengths is not None and return_carry

        def body(cell: RNNCell, carry: Any, x: jax.Array) -> Any:
            carry, y = cell(carry, x)
            return (carry, (carry, y)) if slice_carry else (carry, y)

        state_axes = self.state_axes
        if self.broadcast_rngs is not None:
            broadcast = All(RngState, self.broadcast_rngs)
            pairs = zip(state_axes.filters, state_axes.axes, strict=True)
            state_axes = StateAxes([(broadcast, None), *pairs])
        step = scan(
            body,
            in_axes=(state_axes, Carry, time_axis),
            out_axes=(Carry, (0, time_axis)) if slice_carry else (Carry, time_axis),
            unroll=self.unroll,
        )
        if self.broadcast_rngs is None:
            carry, outputs = step(self.cell, initial_carry, inputs)
        else:
            with _broadcast_streams(self.cell, self.broadcast_rngs):
                carry, outputs = step(self.cell, initial_carry, inputs)
        if slice_carry:
            assert seq_lengths is not None
            carries, outputs = outputs
            last = seq_lengths - 1
            carry = jax.tree.map(lambda c: c[last, jnp.arange(c.shape[1])], carries)
        if reverse and keep_order:
            outputs = jax.tree.map(
                lambda y: flip_sequences(y, seq_lengths, num_batch, time_major), outputs
            )
        return (carry, outputs) if return_carry else outputs


def _concatenate(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.concatenate([a, b], axis=-1)


class Bidirectional(Module):
    """Run one RNN forwards and one backwards over the sequence; merge their outputs.

    The backward RNN reads each sequence reversed within its ``seq_lengths`` and its
    outputs are put back in time order before ``merge_fn`` (concatenation) joins them.

    >>> import jax.numpy as jnp
    >>> from nnx_layers import GRUCell
    >>> from nnx_variables import Rngs
    >>> forward = RNN(GRUCell(3, 4, rngs=Rngs(0)))
    >>> backward = RNN(GRUCell(3, 4, rngs=Rngs(1)))
    >>> Bidirectional(forward, backward)(jnp.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        forward_rnn: RNN,
        backward_rnn: RNN,
        *,
        merge_fn: Callable[[jax.Array, jax.Array], jax.Array] = _concatenate,
        time_major: bool = False,
        return_carry: bool = False,
        rngs: Rngs | RngStream | bool = True,
    ) -> None:
        self.forward_rnn = forward_rnn
        self.backward_rnn = backward_rnn
        self.merge_fn = merge_fn
        self.time_major = time_major
        self.return_carry = return_carry
        self.rngs = _carry_stream(rngs, "nnx.Bidirectional")

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: tuple[Any, Any] | None = None,
        rngs: Rngs | RngStream | None = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,  # accepted for RNN's signature; both directions run
        keep_order: bool | None = None,
    ) -> Output:
        """Merged outputs, preceded by ``(forward_carry, backward_carry)`` if ``return_carry``."""
        time_major = self.time_major if time_major is None else time_major
        return_carry = self.return_carry if return_carry is None else return_carry
        if rngs is None:
            rngs = self.rngs
        if isinstance(rngs, Rngs):
            rngs = rngs.carry
        forward_init, backward_init = (None, None) if initial_carry is None else initial_carry
        carry_f, out_f = self.forward_rnn(
            inputs,
            initial_carry=forward_init,
            rngs=rngs,
            seq_lengths=seq_lengths,
            return_carry=True,
            time_major=time_major,
            reverse=False,
        )
        carry_b, out_b = self.backward_rnn(
            inputs,
            initial_carry=backward_init,
            rngs=rngs,
            seq_lengths=seq_lengths,
            return_carry=True,
            time_major=time_major,
            reverse=True,
            keep_order=True,
        )
        outputs = jax.tree.map(self.merge_fn, out_f, out_b)
        return ((carry_f, carry_b), outputs) if return_carry else outputs
