"""split / merge / update with a bare Variable as the root (issue 11, case 8), as flax 0.12.

A Variable has no attribute paths, so its "State" is the Variable itself: ``split(v)``
returns ``(graphdef, v)``, ``merge`` gives it back, and ``update(v, other)`` copies
``other``'s value in place.
"""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from nnx_graph import (
    GraphDef,
    State,
    StateMismatchError,
    Variable,
    VariableState,
    merge,
    split,
    update,
)


class Param(Variable):  # type: ignore[type-arg]
    pass


class Stat(Variable):  # type: ignore[type-arg]
    pass


def test_split_of_a_variable_is_its_graphdef_and_the_variable() -> None:
    p = Param(jnp.array(1.0))
    graphdef, state = split(p)
    assert isinstance(graphdef, GraphDef)
    assert state is p
    assert isinstance(state, VariableState)


def test_split_with_filters_puts_the_variable_in_its_part() -> None:
    p = Param(jnp.array(1.0))
    _, params, rest = split(p, Param, ...)
    assert params is p and isinstance(rest, State) and not rest.flat_dict()
    _, stats, rest = split(p, Stat, ...)
    assert rest is p and not stats.flat_dict()
    with pytest.raises(ValueError, match=r"(?s)nnx\.split.*Fix"):
        split(p, Stat)


def test_merge_gives_the_variable_back_and_copy_copies() -> None:
    p = Param(jnp.array(1.0))
    graphdef, state = split(p)
    assert merge(graphdef, state) is p
    graphdef, params, rest = split(p, Stat, ...)
    assert merge(graphdef, params, rest) is p
    copy = merge(graphdef, rest, copy=True)
    assert copy is not p and type(copy) is Param and float(copy.value) == 1.0


def test_merge_without_the_variable_names_what_is_missing() -> None:
    graphdef, _ = split(Param(jnp.array(1.0)))
    with pytest.raises(StateMismatchError, match=r"(?s)nnx\.merge.*Param.*Fix"):
        merge(graphdef, State({}))


def test_update_writes_the_value_in_place() -> None:
    p = Param(jnp.array(1.0))
    _, state = split(Param(jnp.array(5.0)))
    update(p, state)
    assert float(p.value) == 5.0
    update(p, Param(jnp.array(7.0)), State({}))
    assert float(p.value) == 7.0


def test_update_with_paths_is_refused_and_writes_nothing() -> None:
    p = Param(jnp.array(1.0))
    with pytest.raises(StateMismatchError, match=r"(?s)nnx\.update.*state\.w.*Fix"):
        update(p, State({"w": Param(jnp.array(2.0))}))
    assert float(p.value) == 1.0
