"""nnx.List / nnx.Dict through nnx.jit: every edit between calls is seen (check mode on)."""

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import Dict, List, Module, check_fast_path, split
from nnx_transforms import jit
from nnx_variables import Param


class Model(Module):
    def __init__(self) -> None:
        self.blocks = List([Param(jnp.ones(2)), Param(jnp.full(2, 2.0))])
        self.heads = Dict(a=Param(jnp.ones(2)), scale=1.0)

    def __call__(self) -> jnp.ndarray:
        total = sum(p[...] for p in self.blocks) * self.heads.scale
        return total + sum(v[...] for v in self.heads.values() if isinstance(v, Param))


EDITS: dict[str, Callable[[Model], None]] = {
    "append": lambda m: m.blocks.append(Param(jnp.full(2, 3.0))),
    "insert": lambda m: m.blocks.insert(0, Param(jnp.full(2, 4.0))),
    "setitem": lambda m: m.blocks.__setitem__(1, Param(jnp.full(2, 5.0))),
    "slice": lambda m: m.blocks.__setitem__(slice(0, 1), []),
    "delitem": lambda m: m.blocks.__delitem__(-1),
    "pop": lambda m: m.blocks.pop(),
    "extend": lambda m: m.blocks.extend([Param(jnp.ones(2))] * 2),
    "dict set": lambda m: m.heads.__setitem__("b", Param(jnp.full(2, 6.0))),
    "dict del": lambda m: m.heads.__delitem__("a"),
    "dict attribute": lambda m: setattr(m.heads, "scale", 2.0),
    "dict update": lambda m: m.heads.update(c=Param(jnp.zeros(2))),
    "shared": lambda m: m.blocks.append(m.heads["a"]),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_jit_after_each_edit_matches_eager_and_the_cache_stays_fresh(edit):
    model = Model()
    step = jit(lambda m: m())
    with check_fast_path():
        np.testing.assert_allclose(step(model), model())
        split(model)
        EDITS[edit](model)
        np.testing.assert_allclose(step(model), model())
        np.testing.assert_allclose(step(model), model())
        split(model)


def test_mutation_inside_jit_lands_in_the_callers_containers():
    model = Model()

    @jit
    def train(m: Model) -> None:
        m.blocks[0][...] = m.blocks[0][...] + 1
        m.heads["a"][...] = m.heads.a[...] * 3

    with check_fast_path():
        train(model)
        train(model)
    np.testing.assert_allclose(model.blocks[0][...], jnp.full(2, 3.0))
    np.testing.assert_allclose(model.heads.a[...], jnp.full(2, 9.0))


def test_structural_edits_inside_jit_and_new_containers_returned_come_out():
    model = Model()

    @jit
    def grow(m: Model) -> List:
        m.blocks.append(Param(m.blocks[0][...] * 7))
        del m.heads["a"]
        return List([Param(jnp.zeros(1))])

    with check_fast_path():
        made = grow(model)
        model()
    assert len(model.blocks) == 3 and "a" not in model.heads
    np.testing.assert_allclose(model.blocks[2][...], jnp.full(2, 7.0))
    assert type(made) is List and made[0].shape == (1,)
