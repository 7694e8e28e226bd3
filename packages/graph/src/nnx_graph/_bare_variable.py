"""A bare Variable as a graph root (flax 0.12): ``split(v) == (graphdef, v)``.

It has no attribute paths, so its State is the Variable itself; with filters, the part
whose filter takes it holds it and the others are empty States. ``merge`` gives it back
(a copy with ``copy=True``), ``update`` copies another Variable's value into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnx_graph._errors import StateMismatchError, describe, message
from nnx_graph._filters import Filter, to_predicate
from nnx_graph._flatten import flatten, unflatten
from nnx_graph._graphdef import GraphDef
from nnx_graph._paths import format_path
from nnx_graph._state import State, flat_state_of
from nnx_graph._variable import Variable


def split_variable(variable: Variable[Any], filters: tuple[Filter, ...]) -> tuple[Any, ...]:
    graphdef = flatten((variable,)).graphdef
    if not filters:
        return graphdef, variable
    for i, filter_ in enumerate(filters):
        if to_predicate(filter_)((), variable):
            parts: list[Any] = [State({}) for _ in filters]
            parts[i] = variable
            return (graphdef, *parts)
    kind = type(variable).__name__
    raise ValueError(
        message(
            f"nnx.split: the filters ({', '.join(map(repr, filters))}) do not match the "
            f"{kind} being split.",
            [f"{kind}: {describe(variable.raw_value)}"],
            expected="filters that together cover every Variable",
            fix=f"add `...` as the last filter: nnx.split(variable, {filters[0]!r}, ...)",
        )
    )


def merge_variable(
    graphdef: GraphDef, parts: tuple[Any, ...], copy: bool, recreate_variables: bool = True
) -> Any:
    if len(parts) == 1 and not isinstance(parts[0], Variable | Mapping):
        # a raw value where split put the Variable (what nnx.map's function returned)
        roots, _ = unflatten(graphdef, parts, recreate_variables=recreate_variables)
        return roots[0]
    found = [part for part in parts if isinstance(part, Variable)]
    other = [part for part in parts if not isinstance(part, Variable)]
    paths = [path for part in other for path in flat_state_of(part, "nnx.merge")]
    kind = graphdef.edges[0][2].__name__
    if len(found) != 1 or paths:
        problems = [f"{format_path(p, 'state')}: not in the GraphDef" for p in paths]
        if len(found) != 1:
            problems.append(f"{len(found)} Variables given for the GraphDef's one {kind}")
        raise StateMismatchError(
            message(
                "nnx.merge: the States do not fit the GraphDef of a bare Variable.",
                problems,
                expected=f"the {kind} that split returned (and, with filters, empty States)",
                fix="pass what split returned: nnx.merge(graphdef, *states)",
            )
        )
    return found[0].replace() if copy else found[0]


def update_variable(variable: Variable[Any], parts: tuple[Any, ...]) -> None:
    found = [part for part in parts if isinstance(part, Variable)]
    other = [part for part in parts if not isinstance(part, Variable)]
    paths = [path for part in other for path in flat_state_of(part, "nnx.update")]
    if paths:
        raise StateMismatchError(
            message(
                f"nnx.update: the State has paths, but the graph is a bare "
                f"{type(variable).__name__}, which has none.",
                [f"{format_path(p, 'state')}: not in the graph" for p in paths],
                expected="a Variable (what nnx.split of a Variable returns)",
                fix="nnx.update(variable, other_variable), or update the object holding it",
            )
        )
    for part in found:
        variable.update_from_state(part)
