"""Name the scanned values whose length does not fit the loop, as the user wrote them.

``jax.lax.scan`` reports a value with no axis to scan over as an ``IndexError`` from its
own length check, and values of different lengths by their place among the pure loop's
inputs. The common cause is a stack made by ``nnx.split_rngs`` + ``nnx.vmap`` whose
modules keep the one ``Rngs`` passed in (a Dropout's): its key is not stacked, so the
scan must split it again (``nnx.split_rngs`` above ``nnx.scan``) or broadcast it. Only
the error path runs this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from nnx_graph import describe, message
from nnx_transforms._naming import shape_of
from nnx_transforms._scan_layout import Layout
from nnx_variables import RngState


def length_error(
    layout: Layout,
    slots: Sequence[Any],
    graph_values: Sequence[Any],
    others: Sequence[Any],
    length: int | None,
) -> ValueError | None:
    """The error naming every scanned value that does not fit the loop, or None if all fit.

    ``slots``: the Variable behind each graph leaf (to tell RNG state, which
    ``nnx.split_rngs`` fixes, from the rest).
    """
    scanned = [
        (layout.graph_names[i], graph_values[i], layout.graph_axes[i], slots[i])
        for i in layout.g_scan
    ] + [(layout.other_names[i], others[i], layout.other_axes[i], None) for i in layout.o_scan]
    sizes = [
        (name, value, axis, slot, _axis_length(value, axis)) for name, value, axis, slot in scanned
    ]
    known = [size for *_, size in sizes if size is not None]
    steps = length if length is not None or not known else Counter(known).most_common(1)[0][0]
    wrong = [entry for entry in sizes if entry[4] != steps]
    if steps is None or not wrong:
        return None
    problems = [
        f"{name}: {describe(value)} "
        + (f"scanned on axis {axis} (length {size})" if size is not None else f"has no axis {axis}")
        for name, value, axis, _, size in wrong
    ]
    if all(isinstance(slot, RngState) for *_, slot, _ in wrong):
        fix = (
            f"split the RNG streams for the loop: put @nnx.split_rngs(splits={steps}) above "
            "@nnx.scan"
        )
    else:
        fix = (
            "stack what is scanned to one length, and broadcast what every step shares: "
            "in_axes None, or nnx.StateAxes({Kind: None, ...: 0}) for some Variables"
        )
    return ValueError(
        message(
            f"nnx.scan: the values scanned by in_axes do not share the loop's length ({steps}).",
            problems,
            expected=f"every value scanned by in_axes to have length {steps} on its scanned axis",
            fix=fix,
        )
    )


def _axis_length(value: Any, axis: int) -> int | None:
    shape = shape_of(value)
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]
