"""nnx.vmap: vectorise a function over Objects' state.

An Object argument mapped on an axis has every leaf of its state mapped on that axis
(or per filter, with StateAxes); a returned Object that was built inside, like a model
made by a vmapped constructor, comes out stacked along ``out_axes``. Input objects'
state comes back on the axes it went in on, so updates made inside are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from nnx_graph import message
from nnx_transforms._axes import StateAxes, check_axis_values, leaf_axes
from nnx_transforms._protocol import (
    InputSpec,
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
        out_spec, in_leaves, tree = mapped(lifted.flat.read_leaves(), lifted.other_leaves)
        new_leaves, dynamic = from_output_tree(out_spec, tree)
        return apply(lifted.flat, out_spec, in_leaves, new_leaves, dynamic)

    return wrapper
