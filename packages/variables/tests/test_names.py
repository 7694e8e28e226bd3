"""The Linen collection name <-> Variable kind registry, checked against flax 0.12.8/0.10.7.

Each test registers names of its own (the registry is global, as in flax), prefixed with
the test's name so tests never collide.
"""

from __future__ import annotations

import inspect

import pytest

from nnx_graph import Variable
from nnx_variables import (
    BatchStat,
    Cache,
    Intermediate,
    Param,
    Perturbation,
    RngCount,
    RngKey,
    RngState,
    register_variable_name,
    variable_name_from_type,
    variable_type_from_name,
)

# flax 0.12.8 and 0.10.7 register exactly these five pairs.
BUILT_IN = {
    "params": Param,
    "batch_stats": BatchStat,
    "cache": Cache,
    "intermediates": Intermediate,
    "perturbations": Perturbation,
}


@pytest.mark.parametrize(("name", "kind"), BUILT_IN.items())
def test_built_in_pairs_read_both_ways(name: str, kind: type[Variable[object]]) -> None:
    assert variable_name_from_type(kind) == name
    assert variable_type_from_name(name) is kind


@pytest.mark.parametrize("kind", [Variable, RngState, RngKey, RngCount])
def test_unregistered_kinds_raise_value_error(kind: type[Variable[object]]) -> None:
    # flax: ValueError "Type <class ...> is not registered in the registry. ..."
    with pytest.raises(
        ValueError,
        match=rf"(?s){kind.__name__} is not registered in the registry.*Fix: "
        rf"nnx\.register_variable_name\('my_collection', {kind.__name__}\)",
    ):
        variable_name_from_type(kind)


@pytest.mark.parametrize("name", ["rngs", "other", "opt_state"])
def test_unregistered_names_raise_value_error(name: str) -> None:
    # flax: ValueError "Name rngs is not registered in the registry. ..."
    with pytest.raises(
        ValueError,
        match=rf"(?s)name '{name}' is not registered in the registry.*allow_register=True",
    ):
        variable_type_from_name(name)


def test_name_from_type_allow_register_uses_the_class_name() -> None:
    class NamesFoo(Variable[object]):
        pass

    assert variable_name_from_type(NamesFoo, allow_register=True) == "NamesFoo"
    assert variable_name_from_type(NamesFoo) == "NamesFoo"
    assert variable_type_from_name("NamesFoo") is NamesFoo


def test_a_subclass_of_a_registered_kind_is_not_registered() -> None:
    class NamesSub(Param[object]):
        pass

    with pytest.raises(ValueError, match="NamesSub is not registered"):
        variable_name_from_type(NamesSub)
    assert variable_name_from_type(NamesSub, allow_register=True) == "NamesSub"


def test_name_from_type_allow_register_refuses_a_taken_class_name() -> None:
    register_variable_name("NamesTaken", type("Other", (Variable,), {}))

    class NamesTaken(Variable[object]):
        pass

    with pytest.raises(ValueError, match=r"(?s)class name 'NamesTaken'.*already registered"):
        variable_name_from_type(NamesTaken, allow_register=True)


def test_type_from_name_allow_register_creates_a_subclass_of_base() -> None:
    made = variable_type_from_name("names_zzz", allow_register=True)
    # flax 0.12.8: <class 'flax.nnx.variablelib.zzz'>, mro (zzz, Variable, ...)
    assert made.__name__ == "names_zzz"
    assert made.__mro__[1] is Variable
    assert variable_type_from_name("names_zzz") is made
    assert variable_name_from_type(made) == "names_zzz"
    assert made(1.0).value == 1.0

    param_kind = variable_type_from_name("names_yyy", base=Param, allow_register=True)
    assert param_kind.__mro__[1] is Param
    assert isinstance(param_kind(0.0), Param)


def test_a_registered_name_ignores_base() -> None:
    # flax 0.12.8: variable_type_from_name('params', base=BatchStat) is Param
    assert variable_type_from_name("params", base=BatchStat) is Param


def test_register_as_a_decorator() -> None:
    @register_variable_name("names_mine")
    class NamesMine(Variable[object]):
        pass

    assert variable_type_from_name("names_mine") is NamesMine
    assert variable_name_from_type(NamesMine) == "names_mine"


def test_register_refuses_a_taken_name_unless_overwrite() -> None:
    class First(Variable[object]):
        pass

    class Second(Variable[object]):
        pass

    assert register_variable_name("names_taken", First) is First
    # flax: ValueError "Name mine already mapped to type <class ...>. To overwrite, ..."
    with pytest.raises(
        ValueError,
        match=r"(?s)'names_taken' already mapped to type First.*Fix: nnx\.register_variable_"
        r"name\('names_taken', Second, overwrite=True\)",
    ):
        register_variable_name("names_taken", Second)
    with pytest.raises(ValueError, match="already mapped"):
        register_variable_name("names_taken", First)  # the same pair again is refused too
    assert variable_type_from_name("names_taken") is First


def test_overwrite_and_the_first_name_of_a_kind() -> None:
    # flax 0.12.8: a kind under two names reads back as the first; overwriting that name
    # with another kind hands the first kind over to its second name.
    class Mine(Variable[object]):
        pass

    class Mine3(Variable[object]):
        pass

    register_variable_name("names_a", Mine)
    register_variable_name("names_b", Mine)
    assert variable_name_from_type(Mine) == "names_a"
    assert variable_type_from_name("names_b") is Mine
    assert register_variable_name("names_a", Mine3, overwrite=True) is Mine3
    assert variable_type_from_name("names_a") is Mine3
    assert variable_name_from_type(Mine3) == "names_a"
    assert variable_name_from_type(Mine) == "names_b"


def test_signatures_match_flax() -> None:
    # flax 0.12.8: (typ, /, *, allow_register=False), (name, /, *, base=Variable,
    # allow_register=False), (name, typ=MISSING, *, overwrite=False)
    assert list(inspect.signature(variable_name_from_type).parameters) == [
        "typ",
        "allow_register",
    ]
    sig = inspect.signature(variable_type_from_name)
    assert sig.parameters["name"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert sig.parameters["base"].default is Variable
    sig = inspect.signature(register_variable_name)
    assert list(sig.parameters) == ["name", "typ", "overwrite"]
    assert sig.parameters["overwrite"].kind is inspect.Parameter.KEYWORD_ONLY
