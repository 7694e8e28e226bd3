"""split's cache of walks: never stale, never keeping objects alive, checkable."""

from __future__ import annotations

import collections
import dataclasses
import functools
import gc
import os
import subprocess
import sys
import weakref
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import (
    Module,
    StaleCacheError,
    Variable,
    check_fast_path,
    checking_fast_path,
    graphdef,
    merge,
    split,
    state,
    update,
)


class Param(Variable):
    pass


class Model(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.zeros(2))
        self.layers = [Param(jnp.ones(1))]


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Pair:
    a: jax.Array
    b: jax.Array


@pytest.mark.parametrize(
    "box",
    [
        collections.OrderedDict([(1, jnp.array(1.0)), (0, jnp.array(2.0))]),
        collections.OrderedDict([("b", jnp.array(1.0)), ("a", jnp.array(2.0))]),
        collections.defaultdict(float, {7: jnp.array(1.0), 5: jnp.array(2.0)}),
        Pair(jnp.array(1.0), jnp.array(2.0)),
    ],
    ids=["OrderedDict int", "OrderedDict str", "defaultdict", "dataclass"],
)
def test_split_reads_pytree_containers_by_key_on_every_call(box: Any) -> None:
    model = Model()
    model.box = box
    expected = {k: float(v) for k, v in (vars(box) if isinstance(box, Pair) else box).items()}
    for _ in range(3):
        _, st = split(model)
        assert {path[-1]: float(v) for path, v in st["box"].flat_dict().items()} == expected
    roundtrip = merge(*split(model)).box
    assert type(roundtrip) is type(box)


def test_split_sees_metadata_set_through_update() -> None:
    model = Model()
    model.w.frozen = 1.0
    before = graphdef(model)
    split(model)
    st = state(model)
    st["w"] = st["w"].replace(frozen=2.0)
    update(model, st)
    graph, st = split(model)
    assert graph != before
    assert st["w"].frozen == 2.0


def test_split_cache_keeps_no_object_alive() -> None:
    model, other = Model(), Model()
    split(model)
    split((model, other))
    split([model, other])
    refs = [weakref.ref(model), weakref.ref(other), weakref.ref(model.w)]
    del model, other
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]


def test_split_of_a_container_sees_edits_of_the_container_items() -> None:
    model = Model()
    assert len(split([model.layers, model])[1][0]) == 1
    model.layers.append(Param(jnp.ones(1)))
    assert len(split([model.layers, model])[1][0]) == 2
    model.layers[0] = Param(jnp.full(1, 3.0))
    assert float(split([model.layers, model])[1][0][0].value[0]) == 3.0


def test_check_mode_names_an_edit_that_bypassed_setattr() -> None:
    model = Model()
    before = checking_fast_path()  # on for the whole run under NNX_CHECK_FAST_PATH=1
    with check_fast_path():
        assert checking_fast_path()
        split(model)
        split(model)
        object.__setattr__(model, "w", Param(jnp.ones(2)))
        with pytest.raises(StaleCacheError, match=r"(?s)model\.w.*model\.x = \.\.\."):
            split(model)
    assert checking_fast_path() == before


def test_the_environment_variable_turns_check_mode_on() -> None:
    code = "import nnx_graph; print(nnx_graph.checking_fast_path())"
    env = {**os.environ, "NNX_CHECK_FAST_PATH": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


# -- functions in a GraphDef compare by what they compute --------------------------------


def _scaler(factor: float) -> Any:
    return lambda x: x * factor


class Holder(Module):
    def __init__(self, fn: Any) -> None:
        self.w = Param(jnp.ones(1))
        self.fn = fn


def _same_graphdef(f: Any, g: Any) -> bool:
    return graphdef(Holder(f)) == graphdef(Holder(g))


def test_equal_closures_give_equal_graphdefs() -> None:
    assert _same_graphdef(_scaler(2.0), _scaler(2.0))
    assert _same_graphdef(functools.partial(pow, 2), functools.partial(pow, 2))


@pytest.mark.parametrize(
    ("f", "g"),
    [
        (_scaler(2.0), _scaler(3.0)),
        (_scaler(0.0), _scaler(-0.0)),
        (_scaler(1), _scaler(True)),
        (_scaler(jnp.ones(1)), _scaler(jnp.ones(1))),  # arrays: by identity
        (_scaler([1.0]), _scaler([1.0])),  # mutable values: by identity
        (functools.partial(pow, 2), functools.partial(pow, 3)),
    ],
)
def test_closures_that_may_differ_give_different_graphdefs(f: Any, g: Any) -> None:
    assert not _same_graphdef(f, g)


def test_a_recursive_closure_can_be_keyed() -> None:
    def make() -> Any:
        def fact(n: int) -> int:
            return 1 if n <= 1 else n * fact(n - 1)

        return fact

    assert _same_graphdef(make(), make())


def test_a_method_of_the_model_is_bound_to_the_merged_copy() -> None:
    class Scaled(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.full(1, 2.0))
            self.act = self.scale

        def scale(self, x: jax.Array) -> jax.Array:
            return x * self.w.value

    model = Scaled()
    assert graphdef(model) == graphdef(Scaled())
    copy = merge(*split(model))
    copy.w.value = jnp.full(1, 5.0)
    assert copy.act.__self__ is copy
    assert float(copy.act(jnp.ones(1))[0]) == 5.0
