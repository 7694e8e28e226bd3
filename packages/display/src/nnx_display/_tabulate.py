"""nnx.tabulate: a table of a model's modules, as one call traverses them.

One row per module call, in call order: its path, type, the shapes of what went in and
came out, and per Variable kind the count and bytes of the state under it. The call
runs under ``jax.eval_shape`` on a copy of the model, so nothing is computed and the
model is left as it was. Plain fixed-width text, for a terminal or a log.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nnx_graph import CALL_OBSERVERS, Module, Variable, iter_modules, merge, split, state

_Row = tuple[str, str, str, str, dict[str, tuple[int, int]]]


def tabulate(
    model: Module, /, *inputs: Any, depth: int | None = None, method: str = "__call__", **kw: Any
) -> str:
    """The table of ``model``'s module calls on ``inputs`` (shapes only, nothing computed).

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Variable
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Variable(jnp.ones(3))
    ...     def __call__(self, x):
    ...         return x * self.w.value
    >>> print(tabulate(Scale(), jnp.ones((2, 3))))
    path  type   inputs         outputs        Variable
    ----  -----  -------------  -------------  --------
          Scale  float32[2, 3]  float32[2, 3]  3 (12 B)
    ----  -----  -------------  -------------  --------
                                Total          3 (12 B)
    """
    graphdef, values = split(model)
    rows: list[_Row] = []

    def run(values: Any, inputs: Any, kw: Any) -> Any:
        copy = merge(graphdef, values, copy=True)
        paths = {id(module): path for path, module in iter_modules(copy)}

        def observe(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            path = paths.get(id(module))
            if path is None or (depth is not None and len(path) > depth):
                return lambda out: None
            position = len(rows)  # a row per call, in the order the calls start
            rows.append((".".join(map(str, path)), type(module).__name__, "", "", {}))

            def done(out: Any) -> None:
                name, kind, _, _, _ = rows[position]
                inputs, outputs = _shapes((args, kwargs)), _shapes(out)
                rows[position] = (name, kind, inputs, outputs, _sizes(module))

            return done

        CALL_OBSERVERS.append(observe)
        try:
            return getattr(copy, method)(*inputs, **kw)
        finally:
            CALL_OBSERVERS.remove(observe)

    jax.eval_shape(run, values, inputs, kw)
    return _render(rows, _sizes(model))


def _shapes(tree: Any) -> str:
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "shape")]
    return ", ".join(f"{leaf.dtype}[{', '.join(map(str, leaf.shape))}]" for leaf in leaves)


def _sizes(module: Any) -> dict[str, tuple[int, int]]:
    """Per Variable kind: the number of elements and bytes of the state under ``module``."""
    totals: dict[str, tuple[int, int]] = {}
    for leaf in state(module).flat_dict().values():
        value = leaf.get_raw_value() if isinstance(leaf, Variable) else leaf
        if not hasattr(value, "shape"):
            continue
        kind = type(leaf).__name__ if isinstance(leaf, Variable) else "array"
        count = int(np.prod(value.shape))
        size = count * value.dtype.itemsize  # a typed PRNG key's dtype has one too
        before = totals.get(kind, (0, 0))
        totals[kind] = (before[0] + count, before[1] + size)
    return totals


def _render(rows: list[_Row], totals: dict[str, tuple[int, int]]) -> str:
    kinds = sorted({kind for row in rows for kind in row[4]} | set(totals))

    def cell(sizes: tuple[int, int] | None) -> str:
        return "" if sizes is None else _count(*sizes)

    table = [["path", "type", "inputs", "outputs", *kinds]]
    table += [[p, t, i, o, *(cell(sizes.get(k)) for k in kinds)] for p, t, i, o, sizes in rows]
    footer = ["", "", "", "Total", *(cell(totals.get(k)) for k in kinds)]
    widths = [max(len(row[c]) for row in [*table, footer]) for c in range(len(table[0]))]
    rule = ["-" * w for w in widths]
    lines = [*table[:1], rule, *table[1:], rule, footer]
    padded = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in lines)
    return "\n".join(line.rstrip() for line in padded)


def _count(count: int, size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{count:,} ({size / scale:.1f} {unit})"
    return f"{count:,} ({size} B)"
