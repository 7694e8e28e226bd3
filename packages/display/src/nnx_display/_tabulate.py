"""nnx.tabulate: a table of a model's modules, as one call traverses them.

One row per module call, in call order: its path, type, the shapes of what went in and
came out, optionally the FLOPs of the call (and of its VJP), and per Variable kind the
count and bytes of the state under it, with the module's own Variables listed by name.
The call runs under ``jax.eval_shape`` on a copy of the model, so nothing is computed
and the model is left as it was; FLOPs come from XLA's cost analysis of each call,
lowered on shapes alone. The layout is Flax NNX 0.12's (a titled box table, a Total row
and the total parameter count), drawn as plain text for a terminal or a log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np

from nnx_display._table import count_cell, draw_table
from nnx_graph import CALL_OBSERVERS, Module, Variable, iter_modules, merge, split, state

_RNG_STATE = "RngState"  # the kind RNG keys and counts are summed under, as flax does


class CallInfo(NamedTuple):
    """One module call, as ``row_filter`` sees it (the fields of flax's ``CallInfo``)."""

    call_order: int
    object_id: int
    type: type
    path: tuple[Any, ...]
    inputs_repr: str
    outputs: str
    flops: int | None
    vjp_flops: int | None


class _Recorded(NamedTuple):
    info: CallInfo
    sizes: dict[str, tuple[int, int]]
    own: dict[str, list[str]]


def tabulate(
    model: Module,
    /,
    *inputs: Any,
    depth: int | None = None,
    method: str = "__call__",
    row_filter: Callable[[CallInfo], bool] | None = None,
    table_kwargs: Mapping[str, Any] | None = None,
    column_kwargs: Mapping[str, Any] | None = None,
    console_kwargs: Mapping[str, Any] | None = None,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    **input_kwargs: Any,
) -> str:
    """The table of ``model``'s module calls on ``inputs`` (shapes only, nothing computed).

    ``row_filter`` keeps the calls it returns True for. ``table_kwargs={'title': ...}``
    replaces the title; the rest of ``table_kwargs``, ``column_kwargs`` and
    ``console_kwargs`` are options of flax's rich renderer, which this plain-text table
    has no use for, so flax code passing them runs unchanged.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(3))
    ...     def __call__(self, x):
    ...         return x * self.w.value
    >>> print(tabulate(Scale(), jnp.ones((2, 3))))
                            Scale Summary
    ┏━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ path ┃ type  ┃ inputs       ┃ outputs      ┃ Variable      ┃
    ┡━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │      │ Scale │ float32[2,3] │ float32[2,3] │ w: float32[3] │
    │      │       │              │              │               │
    │      │       │              │              │ 3 (12 B)      │
    ├──────┼───────┼──────────────┼──────────────┼───────────────┤
    │      │       │              │        Total │ 3 (12 B)      │
    └──────┴───────┴──────────────┴──────────────┴───────────────┘
    <BLANKLINE>
                      Total Parameters: 3 (12 B)
    """
    del column_kwargs, console_kwargs  # rich's options: see the docstring
    title = dict(table_kwargs or {}).get("title", f"{type(model).__name__} Summary")
    graphdef, values = split(model)
    recorded: list[_Recorded | None] = []

    def run(values: Any, inputs: Any, kw: Any) -> Any:
        copy = merge(graphdef, values, copy=True)
        paths = {id(module): path for path, module in iter_modules(copy)}

        def observe(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            path = paths.get(id(module))
            if path is None or (depth is not None and len(path) > depth):
                return lambda out: None
            position = len(recorded)  # a row per call, in the order the calls start
            recorded.append(None)
            flops = _flops(module, args, kwargs, vjp=False) if compute_flops else None
            vjp_flops = _flops(module, args, kwargs, vjp=True) if compute_vjp_flops else None

            def done(out: Any) -> None:
                info = CallInfo(
                    position,
                    id(module),
                    type(module),
                    tuple(path),
                    _shapes((args, kwargs)),
                    _shapes(out),
                    flops,
                    vjp_flops,
                )
                recorded[position] = _Recorded(info, _sizes(module), _own_variables(module))

            return done

        CALL_OBSERVERS.append(observe)
        try:
            return getattr(copy, method)(*inputs, **kw)
        finally:
            CALL_OBSERVERS.remove(observe)

    jax.eval_shape(run, values, inputs, input_kwargs)
    rows = [r for r in recorded if r is not None and (row_filter is None or row_filter(r.info))]
    return _render(title, rows, _sizes(model), compute_flops, compute_vjp_flops)


def _flops(module: Module, args: tuple[Any, ...], kwargs: dict[str, Any], *, vjp: bool) -> int:
    """XLA's FLOP count of ``module(*args, **kwargs)`` (with ``vjp``: of its forward and VJP).

    Every array becomes an argument of the lowered function, so nothing from the
    surrounding ``eval_shape`` trace is closed over; the VJP is taken with respect to
    the floating-point ones (keys and counts cannot have cotangents).
    """
    graphdef, values = split(module)
    leaves, treedef = jax.tree.flatten((values, args, kwargs))
    positions = [i for i, leaf in enumerate(leaves) if hasattr(leaf, "shape")]
    inexact = [jax.numpy.issubdtype(leaves[i].dtype, jax.numpy.inexact) for i in positions]

    def call(*arrays: Any) -> Any:
        filled = list(leaves)
        for i, array in zip(positions, arrays, strict=True):
            filled[i] = array
        values, args, kwargs = jax.tree.unflatten(treedef, filled)
        return merge(graphdef, values, copy=True)(*args, **kwargs)

    def call_and_vjp(*arrays: Any) -> Any:
        fixed = iter([a for a, d in zip(arrays, inexact, strict=True) if not d])

        def of_inexact(*diff: Any) -> Any:
            moving = iter(diff)
            return call(*(next(moving) if d else next(fixed) for d in inexact))

        out, pullback = jax.vjp(of_inexact, *(a for a, d in zip(arrays, inexact, strict=True) if d))
        return pullback(out)

    shapes = [jax.ShapeDtypeStruct(leaves[i].shape, leaves[i].dtype) for i in positions]  # type: ignore[no-untyped-call]
    analysis = jax.jit(call_and_vjp if vjp else call).lower(*shapes).cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per computation
        analysis = analysis[0] if analysis else {}
    return int((analysis or {}).get("flops", 0))


def _shapes(tree: Any) -> str:
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "shape")]
    return ", ".join(f"{leaf.dtype}[{','.join(map(str, leaf.shape))}]" for leaf in leaves)


def _kind(leaf: Any) -> str:
    names = [cls.__name__ for cls in type(leaf).__mro__]
    return _RNG_STATE if _RNG_STATE in names else names[0]


def _sizes(module: Any) -> dict[str, tuple[int, int]]:
    """Per Variable kind: the number of elements and bytes of the state under ``module``."""
    totals: dict[str, tuple[int, int]] = {}
    for leaf in state(module).flat_dict().values():
        value = leaf.get_raw_value() if isinstance(leaf, Variable) else leaf
        if not hasattr(value, "shape"):
            continue
        kind = _kind(leaf) if isinstance(leaf, Variable) else "array"
        count = int(np.prod(value.shape))
        size = count * value.dtype.itemsize  # a typed PRNG key's dtype has one too
        before = totals.get(kind, (0, 0))
        totals[kind] = (before[0] + count, before[1] + size)
    return totals


def _own_variables(module: Any) -> dict[str, list[str]]:
    """Per kind, ``name: dtype[shape]`` of the Variables that are ``module``'s own attributes."""
    own: dict[str, list[str]] = {}
    for name in sorted(vars(module), key=str):
        leaf = vars(module)[name]
        if isinstance(leaf, Variable) and hasattr(leaf.get_raw_value(), "shape"):
            value = leaf.get_raw_value()
            own.setdefault(_kind(leaf), []).append(
                f"{name}: {value.dtype}[{','.join(map(str, value.shape))}]"
            )
    return own


def _render(
    title: str,
    rows: list[_Recorded],
    totals: dict[str, tuple[int, int]],
    flops: bool,
    vjp_flops: bool,
) -> str:
    kinds = sorted({kind for row in rows for kind in row.sizes} | set(totals))
    header = ["path", "type", "inputs", "outputs"]
    header += ["flops"] * flops + ["vjp_flops"] * vjp_flops + kinds
    body = []
    for row in rows:
        info = row.info
        cells = ["/".join(map(str, info.path)), info.type.__name__, info.inputs_repr, info.outputs]
        cells += [str(info.flops)] * flops + [str(info.vjp_flops)] * vjp_flops
        for kind in kinds:
            sizes = row.sizes.get(kind)
            names = row.own.get(kind, [])
            total = "" if sizes is None else count_cell(*sizes)
            cells.append("\n".join([*names, "", total]) if names else total)
        body.append(cells)
    footer = [""] * (len(header) - len(kinds) - 1) + ["Total"]
    footer += [count_cell(*totals[k]) if k in totals else "" for k in kinds]
    count = sum(c for c, _ in totals.values())
    size = sum(s for _, s in totals.values())
    return draw_table(title, header, body, footer, f"Total Parameters: {count_cell(count, size)}")
