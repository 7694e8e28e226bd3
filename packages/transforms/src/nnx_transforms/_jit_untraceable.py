"""nnx.jit's error for values jit cannot trace: a string in a Variable or as an argument.

JAX rejects such a value before tracing and names it by its place among the jitted pure
function's inputs (``kept_graph[0]``, ``kept_other[1]``), names the user never wrote.
``JitWrapped`` catches JAX's TypeError and asks ``untraceable_error`` for a clearer one;
only the error path pays for the walk, never a successful call.
"""

from __future__ import annotations

from typing import Any

from nnx_graph import Variable, describe, message
from nnx_transforms._naming import (
    argument_names,
    function_name,
    graph_leaf_names,
    is_traceable,
    other_leaf_names,
    positional_labels,
)
from nnx_transforms._protocol import Lifted, argument_owners


def untraceable_error(
    jitted: Any,
    lifted: Lifted,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    statics: tuple[tuple[Any, Any], ...],
) -> TypeError | None:
    """The error naming every value of this call jit cannot trace, or None if there is none.

    ``jitted`` is the ``JitWrapped`` (for its function and static options); ``args`` and
    ``kwargs`` are the dynamic ones, ``statics`` what was taken out of them. When every
    leaf is traceable the TypeError came from somewhere else and None leaves it alone.
    """
    # ``args`` lost its static positions; number the rest as the user did.
    taken = {key for key, _ in statics if isinstance(key, int)}
    numbering = [i for i in range(len(args) + len(taken)) if i not in taken]
    labels = positional_labels(jitted.fun, len(args) + len(taken))
    names = argument_names(args, kwargs, numbering, labels)
    variables = [
        (name, slot, value)
        for name, slot, value in zip(
            graph_leaf_names(lifted, names),
            lifted.flat.slots,
            lifted.flat.read_leaves(),
            strict=True,
        )
        if not is_traceable(value)
    ]
    objects = set(lifted.spec.object_positions)
    owners = [o for i, o in enumerate(argument_owners(args, kwargs)) if i not in objects]
    arguments = [
        (name, value, numbering[owner] if isinstance(owner, int) else owner)
        for name, value, owner in zip(
            other_leaf_names(lifted, names), lifted.other_leaves, owners, strict=True
        )
        if not is_traceable(value)
    ]
    if not variables and not arguments:
        return None
    problems = [
        f"{name}: {describe(value)} (the value of a {type(slot).__name__})"
        for name, slot, value in variables
    ]
    problems += [f"{name}: {describe(value)} (an argument)" for name, value, _ in arguments]
    expected, fixes = [], []
    if variables:
        expected.append("Variable values under jit to be arrays or scalars")
        fixes.append(_static_attribute_fix(*variables[0]))
    if arguments:
        expected.append("arguments jit traces to be arrays or scalars; others static")
        fixes.append(_static_argument_fix(jitted, [owner for _, _, owner in arguments]))
    summary = (
        f"nnx.jit: {problems[0]}, which jit cannot trace."
        if len(problems) == 1
        else f"nnx.jit: {len(problems)} values passed to {function_name(jitted.fun)} are neither "
        "arrays nor scalars, so jit cannot trace them."
    )
    return TypeError(
        message(
            summary,
            problems if len(problems) > 1 else (),
            expected="; ".join(expected),
            fix="; ".join(fixes),
        )
    )


def _static_attribute_fix(path: str, slot: Any, value: Any) -> str:
    """Make the Variable's value a plain attribute: static, part of the GraphDef."""
    attribute = path.rsplit(".", 1)[-1] if "." in path else ""
    if not attribute.isidentifier() or not isinstance(slot, Variable):
        return "store the value as a plain attribute (static) instead of in a Variable"
    shown = repr(value) if isinstance(value, str) and len(value) <= 20 else "value"
    kind = type(slot).__name__
    return f"self.{attribute} = {shown}  # a plain attribute is static; not nnx.{kind}({shown})"


def _static_argument_fix(jitted: Any, owners: list[int | str]) -> str:
    """``nnx.jit(f, static_argnums=...)`` for the arguments holding untraceable values."""
    numbers = [o for o in owners if isinstance(o, int)]
    keywords = [o for o in owners if isinstance(o, str)]
    options = []
    if numbers:
        options.append(f"static_argnums={_spelled([*jitted.static_argnums, *numbers])}")
    if keywords:
        options.append(f"static_argnames={_spelled([*jitted.static_argnames, *keywords])}")
    return f"nnx.jit({function_name(jitted.fun)}, {', '.join(options)})"


def _spelled(values: list[Any]) -> str:
    unique = list(dict.fromkeys(values))
    return repr(unique[0]) if len(unique) == 1 else repr(tuple(unique))
