"""Name the values whose axes do not fit vmap's batch, as the user wrote them.

JAX names mismatched axes by their place among the pure function's inputs and outputs
(``graph_leaves[1]``, ``out_axes[2][0][1]``). The common causes are a model passed with
``in_axes=0`` whose Variables are not batched (the user needs its paths and
``in_axes=(None, 0)``), and a batched value written into broadcast state. Only the error
path runs this.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from nnx_graph import describe, message
from nnx_transforms._naming import function_name, graph_leaf_names, other_leaf_names, shape_of
from nnx_transforms._protocol import Lifted

# JAX's words for a batched value under out_axes None; the indices are vmap's result
# (spec, layout, groups): group, then position in the group.
_BATCHED_UNDER_NONE = re.compile(
    r"out_axes\[2\]\[(\d+)\]\[(\d+)\].*got axis spec None but output was batched"
)


def axis_size_error(
    f: Callable[..., Any],
    lifted: Lifted,
    names: list[str],
    positions: dict[str, int],
    axes: tuple[list[Any], list[Any]],
    in_axes: Any,
    axis_size: int | None,
) -> ValueError | None:
    """The error naming every mapped value that does not fit the batch, or None if all fit.

    ``names``: how the user reaches each argument leaf (``argument_names``, keywords
    bound to positions named as written); ``positions``: the position each argument
    name stands for (``args[1]`` and a keyword ``y`` bound to it both give 1).
    """
    graph, plain = _mapped_values(lifted, names, axes)
    sizes = [size for _, _, _, size in plain] or [size for _, _, _, size in graph]
    batch = axis_size or _most_common(sizes)
    wrong_graph = [entry for entry in graph if entry[3] != batch]
    wrong_plain = [entry for entry in plain if entry[3] != batch]
    if batch is None or not (wrong_graph or wrong_plain):
        return None
    problems = [
        f"{name}: {describe(value)} "
        + (f"mapped on axis {axis} (size {size})" if size is not None else f"has no axis {axis}")
        for name, value, axis, size in [*wrong_graph, *wrong_plain]
    ]
    expected = (
        f"every value mapped by in_axes to have size {batch} on its mapped axis; None for "
        "what every step shares (an unbatched model)"
    )
    # The batch size comes from the plain arguments (or axis_size): objects whose mapped
    # Variables do not have it are an unbatched model, broadcast with in_axes None.
    if (axis_size is not None or plain) and not wrong_plain:
        culprits = {_owner(name) for name, *_ in wrong_graph}
        return ValueError(
            message(
                f"nnx.vmap: in_axes maps the Variables of {', '.join(sorted(culprits))} as "
                f"batched, but they are not: the batch has size {batch}.",
                problems,
                expected=expected,
                fix=_in_axes_fix(function_name(f), in_axes, positions, culprits),
            )
        )
    return ValueError(
        message(
            f"nnx.vmap: the values mapped by in_axes do not share one batch size ({batch}).",
            problems,
            expected=expected,
            fix="give every mapped value one size on its axis, or in_axes None for the shared ones",
        )
    )


def _mapped_values(
    lifted: Lifted, names: list[str], axes: tuple[list[Any], ...]
) -> tuple[list[tuple[str, Any, int, int | None]], list[tuple[str, Any, int, int | None]]]:
    """``(name, value, axis, size on that axis)`` of each mapped graph and plain leaf."""
    graph_axes, other_axes = axes
    graph = [
        (name, value, axis, _axis_length(value, axis))
        for name, value, axis in zip(
            graph_leaf_names(lifted, names), lifted.flat.read_leaves(), graph_axes, strict=True
        )
        if isinstance(axis, int)
    ]
    plain = [
        (name, value, axis, _axis_length(value, axis))
        for name, value, axis in zip(
            other_leaf_names(lifted, names), lifted.other_leaves, other_axes, strict=True
        )
        if isinstance(axis, int)
    ]
    return graph, plain


def _owner(name: str) -> str:
    """The argument a leaf name starts from: ``args[0]`` of ``args[0].w``, ``m`` of ``m.w``."""
    if name.startswith("args["):
        return name[: name.index("]") + 1]
    return re.split(r"[.\[]", name, maxsplit=1)[0]


def _axis_length(value: Any, axis: int) -> int | None:
    shape = shape_of(value)
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def _most_common(sizes: list[int | None]) -> int | None:
    known = [size for size in sizes if size is not None]
    return Counter(known).most_common(1)[0][0] if known else None


def _in_axes_fix(name: str, in_axes: Any, positions: dict[str, int], culprits: set[str]) -> str:
    """``in_axes`` with None for each argument whose mapped values do not fit the batch."""
    n_args = max(positions.values(), default=-1) + 1
    given = list(in_axes) if isinstance(in_axes, tuple | list) else [in_axes] * n_args
    broadcast = {positions[c] for c in culprits if c in positions}
    fixed = [None if i in broadcast else axis for i, axis in enumerate(given)]
    text = f"nnx.vmap({name}, in_axes={tuple(fixed)!r})"
    keywords = sorted(c for c in culprits if c not in positions)
    if keywords:
        text += f"  # pass {', '.join(keywords)} positionally: keyword arguments map on axis 0"
    return text


def broadcast_error(
    error: ValueError,
    layout: Sequence[int],
    names: Callable[[], list[str]],
    values: Sequence[Any],
) -> ValueError | None:
    """The error naming a batched value the function put where out_axes is None."""
    found = _BATCHED_UNDER_NONE.search(str(error))
    if found is None or not layout:
        return None
    group, rank = int(found.group(1)), int(found.group(2))
    positions = [i for i, g in enumerate(layout) if g == group]
    if group >= len(values) or rank >= len(positions):
        return None
    name = names()[positions[rank]]
    is_result = name.startswith("result")
    where = "out_axes" if is_result else "in_axes"
    return ValueError(
        message(
            f"nnx.vmap: {name} varies along the mapped axis, but its {where} is None (one "
            "value shared by every index).",
            [f"{name}: {where} None, given a batched value"],
            expected="state that is broadcast (in_axes None) to be read, or written with "
            "values that are the same for every index; results under out_axes None the same",
            fix=f"out_axes=0 for {name}"
            if is_result
            else f"map it too: in_axes 0 for {_owner(name)} (or a StateAxes giving that kind "
            "of Variable axis 0), or reduce over the batch before storing",
        )
    )
