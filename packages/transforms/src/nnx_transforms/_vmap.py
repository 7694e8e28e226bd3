"""nnx.vmap: vectorise a function over Objects' state.

An Object argument mapped on an axis has every leaf of its state mapped on that axis
(or per filter, with StateAxes); a returned Object that was built inside, like a model
made by a vmapped constructor, comes out stacked along ``out_axes``. Input objects'
state comes back on the axes it went in on, so updates made inside are kept.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import jax

from nnx_graph import describe, message
from nnx_transforms._axes import StateAxes, check_axis_values, leaf_axes
from nnx_transforms._naming import (
    argument_names,
    function_name,
    graph_leaf_names,
    other_leaf_names,
    shape_of,
)
from nnx_transforms._protocol import (
    InputSpec,
    Lifted,
    OutputSpec,
    apply,
    call_pure,
    from_output_tree,
    lift,
    output_tree,
)


def require_same_structure(spec: OutputSpec, op: str) -> None:
    """Vmap and scan need the inputs' structure to hold: their out_axes are fixed up front."""
    if not spec.inputs_unchanged:
        raise ValueError(
            message(
                f"{op}: the function changed the structure of an input object (an attribute "
                "or Variable added, removed or replaced, or a static attribute set).",
                expected="only Variable values to change inside a mapped or scanned function",
                fix="make structural changes outside, or return new objects instead",
            )
        )


def mapped_call(
    f: Callable[..., Any], spec: InputSpec, op: str
) -> Callable[[list[Any], list[Any]], tuple[OutputSpec, list[Any], Any]]:
    """The pure function vmap transforms: leaves in, (spec, input leaves, result tree) out."""

    def pure(graph_leaves: list[Any], other_leaves: list[Any]) -> tuple[OutputSpec, list[Any], Any]:
        out_spec, in_leaves, new_leaves, dynamic = call_pure(
            f, spec, graph_leaves, other_leaves, changed_only=False
        )
        require_same_structure(out_spec, op)
        return out_spec, in_leaves, output_tree(out_spec, new_leaves, dynamic)

    return pure


def _check_out_axes(out_axes: Any) -> Any:
    for leaf in jax.tree_util.tree_leaves(out_axes, is_leaf=lambda x: isinstance(x, StateAxes)):
        if isinstance(leaf, StateAxes):
            raise ValueError(
                message(
                    "nnx.vmap: StateAxes in out_axes is not supported: returned objects are "
                    "stacked whole.",
                    expected="an int or None for each result",
                    fix="out_axes=0, then nnx.split the result to treat parts differently",
                )
            )
    return out_axes


def axis_size_error(
    f: Callable[..., Any],
    lifted: Lifted,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    axes: tuple[list[Any], list[Any]],
    in_axes: Any,
    axis_size: int | None,
) -> ValueError | None:
    """The error naming every mapped value that does not fit the batch, or None if all fit.

    JAX names mismatched axes by their place among the pure function's inputs
    (``graph_leaves[1]``); the common cause is a model passed with ``in_axes=0`` whose
    Variables are not batched, and the user needs its paths and ``in_axes=(None, 0)``.
    Only the error path runs this.
    """
    graph, plain = _mapped_values(lifted, args, kwargs, axes)
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
                fix=_in_axes_fix(function_name(f), in_axes, len(args), culprits),
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
    lifted: Lifted, args: tuple[Any, ...], kwargs: dict[str, Any], axes: tuple[list[Any], ...]
) -> tuple[list[tuple[str, Any, int, int | None]], list[tuple[str, Any, int, int | None]]]:
    """``(name, value, axis, size on that axis)`` of each mapped graph and plain leaf."""
    names = argument_names(args, kwargs)
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


def _in_axes_fix(name: str, in_axes: Any, n_args: int, culprits: set[str]) -> str:
    """``in_axes`` with None for each argument whose mapped values do not fit the batch."""
    given = list(in_axes) if isinstance(in_axes, tuple | list) else [in_axes] * n_args
    fixed = [None if f"args[{i}]" in culprits else axis for i, axis in enumerate(given)]
    text = f"nnx.vmap({name}, in_axes={tuple(fixed)!r})"
    keywords = sorted(c for c in culprits if not c.startswith("args["))
    if keywords:
        text += f"  # pass {', '.join(keywords)} positionally: keyword arguments map on axis 0"
    return text


def vmap(
    f: Callable[..., Any] | None = None,
    *,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Any = None,
    axis_size: int | None = None,
    spmd_axis_name: Any = None,
) -> Any:
    """``jax.vmap`` for functions whose arguments and results may be Objects.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import Module
    >>> from nnx_variables import Param
    >>> class Scale(Module):
    ...     def __init__(self, key):
    ...         self.w = Param(jax.random.normal(key, ()))
    >>> make = vmap(Scale, in_axes=0, out_axes=0)
    >>> make(jax.random.split(jax.random.key(0), 3)).w.value.shape
    (3,)
    """
    if f is None:
        return functools.partial(
            vmap,
            in_axes=in_axes,
            out_axes=out_axes,
            axis_name=axis_name,
            axis_size=axis_size,
            spmd_axis_name=spmd_axis_name,
        )
    _check_out_axes(out_axes)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lifted = lift(args, kwargs)
        graph_axes, other_axes = leaf_axes(lifted, args, kwargs, in_axes, "nnx.vmap")
        check_axis_values([*graph_axes, *other_axes], "nnx.vmap")
        mapped = jax.vmap(
            mapped_call(f, lifted.spec, "nnx.vmap"),
            in_axes=(graph_axes, other_axes),
            out_axes=(None, graph_axes, out_axes),
            axis_name=axis_name,
            axis_size=axis_size,
            spmd_axis_name=spmd_axis_name,
        )
        try:
            out_spec, in_leaves, tree = mapped(lifted.flat.read_leaves(), lifted.other_leaves)
        except ValueError as error:
            clearer = axis_size_error(
                f, lifted, args, kwargs, (graph_axes, other_axes), in_axes, axis_size
            )
            if clearer is None:
                raise
            raise clearer from error
        new_leaves, dynamic = from_output_tree(out_spec, tree)
        return apply(lifted.flat, out_spec, in_leaves, new_leaves, dynamic)

    return wrapper
