"""The jit fast path against the slow path: every structural edit must be noticed.

Each case edits the model between two calls of the same jitted function, and checks
that the result and the state afterwards equal those of a fresh jit (the slow path) run
on an identical copy, and that the function was re-traced only when the structure it
sees really changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, Variable, clone, state
from nnx_transforms import jit
from nnx_variables import BatchStat, Param, Rngs


class Block(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.layers = [Param(jax.random.normal(rngs(), (3, 3))) for _ in range(2)]
        self.table = {"scale": Param(jnp.ones(3))}
        self.stat = BatchStat(jnp.zeros(3))
        self.bare = jnp.ones(3)
        self.deterministic = False
        self.child = Child()


class Child(Module):
    def __init__(self) -> None:
        self.shift = Param(jnp.full(3, 0.5))


def forward(model: Block, x: jax.Array) -> jax.Array:
    for w in model.layers:
        x = x @ w
    x = x * model.table["scale"] + model.child.shift + model.bare
    if not model.deterministic:
        x = x * 2.0
    for key in sorted(model.table):
        if key != "scale":
            x = x + model.table[key]
    model.stat.value = model.stat.value + x.mean(axis=0)
    return x


class Batch(Module):
    """The input as an object, for calls whose arguments are all objects."""

    def __init__(self, x: jax.Array) -> None:
        self.x = x


class Traced:
    """The jitted forward, counting how often JAX traces it.

    ``objects_only`` passes the input inside a ``Batch`` so that every argument is an
    object: such calls are keyed by the objects' identities alone.
    """

    def __init__(self, objects_only: bool = False) -> None:
        self.traces = 0

        def counted(model: Block, x: Any) -> jax.Array:
            self.traces += 1
            return forward(model, x.x if objects_only else x)

        jitted = jit(counted)
        if objects_only:
            batches: dict[int, Batch] = {}  # one Batch per input, reused like a model

            def step(model: Block, x: jax.Array) -> jax.Array:
                batch = batches.setdefault(id(x), Batch(x))
                return jitted(model, batch)  # type: ignore[no-any-return]

            self.step = step
        else:
            self.step = jitted


def _values(model: Module) -> dict[Any, Any]:
    return {p: getattr(v, "value", v) for p, v in state(model).flat_dict().items()}


def _assert_same(a: Module, b: Module) -> None:
    va, vb = _values(a), _values(b)
    assert va.keys() == vb.keys()
    for key in va:
        assert jnp.allclose(va[key], vb[key]), key


EDITS: dict[str, tuple[Callable[[Block], None], bool]] = {
    # name: (edit, whether the traced structure changes)
    "nothing": (lambda m: None, False),
    "variable value written": (
        lambda m: setattr(m.stat, "value", jnp.full(3, 7.0, dtype=jnp.float32)),
        False,
    ),
    "sub-module replaced": (lambda m: setattr(m, "child", Child()), False),
    "variable replaced": (lambda m: setattr(m, "stat", BatchStat(jnp.ones(3))), False),
    "list appended": (lambda m: m.layers.append(Param(jnp.eye(3))), True),
    "list item replaced": (lambda m: m.layers.__setitem__(0, Param(jnp.eye(3))), False),
    "dict entry added": (lambda m: m.table.__setitem__("bias", Param(jnp.ones(3))), True),
    "dict entry replaced": (
        lambda m: m.table.__setitem__("scale", Param(jnp.full(3, 2.0, dtype=jnp.float32))),
        False,
    ),
    "static attribute changed": (lambda m: setattr(m, "deterministic", True), True),
    "eval()": (lambda m: m.eval(), True),
    "bare array replaced": (lambda m: setattr(m, "bare", jnp.zeros(3)), False),
    "bare array reshaped": (lambda m: setattr(m, "bare", jnp.zeros((2, 3))), True),
    "metadata changed": (lambda m: setattr(m.stat, "note", "edited"), True),
    "attribute deleted then re-added": (
        lambda m: (delattr(m, "child"), setattr(m, "child", Child())),
        False,
    ),
}


@pytest.mark.parametrize("objects_only", [False, True], ids=["array arg", "objects only"])
@pytest.mark.parametrize("name", list(EDITS))
def test_fast_path_matches_slow_path_after_edit(name: str, objects_only: bool) -> None:
    edit, retrace = EDITS[name]
    x = jnp.ones((2, 3))
    model = Block(Rngs(0))
    traced = Traced(objects_only)
    traced.step(model, x)
    traced.step(model, x)  # now served by the fast path
    assert traced.traces == 1

    reference = clone(model)
    edit(model)
    edit(reference)
    out = traced.step(model, x)
    expected = jit(forward)(reference, x)  # a fresh jit: the slow path

    assert jnp.allclose(out, expected)
    _assert_same(model, reference)
    assert traced.traces == (2 if retrace else 1)


def test_a_new_object_is_a_new_entry_not_a_stale_one() -> None:
    x = jnp.ones((2, 3))
    traced = Traced()
    first, second = Block(Rngs(0)), Block(Rngs(1))
    traced.step(first, x)
    out = traced.step(second, x)
    assert jnp.allclose(out, jit(forward)(clone(Block(Rngs(1))), x))
    assert traced.traces == 1  # same structure: JAX's cache is shared
    assert float(first.stat.value.sum()) != float(second.stat.value.sum())


def test_objects_swapped_between_positions_are_not_confused() -> None:
    @jit
    def difference(a: Batch, b: Batch) -> jax.Array:
        return a.x - b.x

    one, two = Batch(jnp.ones(3)), Batch(jnp.full(3, 2.0))
    assert jnp.allclose(difference(one, two), -1.0)
    assert jnp.allclose(difference(two, one), 1.0)
    assert jnp.allclose(difference(one, two), -1.0)
    assert jnp.allclose(difference(one, one), 0.0)


def test_edits_made_inside_a_call_are_honoured_by_the_next_call() -> None:
    x = jnp.ones((2, 3))

    @jit
    def grow(model: Block) -> None:
        model.layers.append(Param(jnp.eye(3)))

    model = Block(Rngs(0))
    step = jit(forward)
    step(model, x)
    grow(model)
    assert len(model.layers) == 3
    reference = clone(model)
    assert jnp.allclose(step(model, x), jit(forward)(reference, x))


def test_a_shared_variable_written_twice_is_consistent() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            self.a = Variable(jnp.zeros(()))
            self.b = self.a

    @jit
    def bump(m: Tied) -> None:
        m.b.value = m.b.value + 1

    tied = Tied()
    for _ in range(3):
        bump(tied)
    assert tied.a is tied.b
    assert float(tied.a.value) == 3.0
