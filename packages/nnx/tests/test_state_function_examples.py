"""flax's examples of split_state, merge_state, as_pure, restore_int_paths, iter_children.

Each test runs the example of flax 0.12.8's docstring with ``import nnx`` and checks
what flax printed for it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import nnx
from nnx import compat


class Model(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.batchnorm = nnx.BatchNorm(2, rngs=rngs)
        self.linear = nnx.Linear(2, 3, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(self.batchnorm(x))


def test_split_filter_and_merge_state_as_in_flax_docstrings() -> None:
    model = Model(rngs=nnx.Rngs(0))
    state = nnx.state(model)
    params, batch_stats = nnx.split_state(state, nnx.Param, nnx.BatchStat)
    assert nnx.filter_state(state, nnx.BatchStat) == batch_stats
    assert jax.tree.map(jnp.shape, nnx.to_pure_dict(batch_stats)) == {
        "batchnorm": {"mean": (2,), "var": (2,)}
    }
    params["linear"]["bias"][...] += 1
    nnx.update(model, nnx.merge_state(params, batch_stats))
    np.testing.assert_array_equal(model.linear.bias[...], [1, 1, 1])
    # flax 0.12.8 called f with Param and BatchStat instances, in sorted path order
    kinds = nnx.map_state(lambda path, leaf: type(leaf).__name__, state)
    assert kinds.to_pure_dict() == {
        "batchnorm": {"bias": "Param", "mean": "BatchStat", "scale": "Param", "var": "BatchStat"},
        "linear": {"bias": "Param", "kernel": "Param"},
    }


def test_as_pure_and_pure_as_in_flax_docstrings() -> None:
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    _, state = nnx.split(model)
    for function in (nnx.as_pure, nnx.pure):
        shapes = jax.tree.map(jnp.shape, function(state))
        # flax 0.12.8: State({'bias': (3,), 'kernel': (2, 3)})
        assert isinstance(shapes, nnx.State)
        assert shapes.raw_mapping == {"bias": (3,), "kernel": (2, 3)}
    pure_model = nnx.as_pure(model)  # flax 0.12.8: a Linear whose kernel is an Array
    assert type(pure_model) is nnx.Linear and isinstance(pure_model.kernel, jax.Array)
    _, rng_state = nnx.split(nnx.Rngs(0))
    pure_rngs = nnx.as_pure(rng_state)
    assert pure_rngs["default"]["count"] == 0 and pure_rngs["default"]["key"].shape == ()


def test_restore_int_paths_as_in_flax_docstring() -> None:
    model = nnx.List([nnx.Linear(10, 10, rngs=nnx.Rngs(0)) for _ in range(2)])
    pure_dict = nnx.to_pure_dict(nnx.state(model))
    assert list(pure_dict) == [0, 1]
    as_restored = {str(key): value for key, value in pure_dict.items()}  # what orbax returns
    assert list(nnx.restore_int_paths(as_restored)) == [0, 1]


def test_iter_children_as_in_flax_docstrings() -> None:
    class SubModule(nnx.Module):
        def __init__(self, din: int, dout: int, rngs: nnx.Rngs) -> None:
            self.linear1 = nnx.Linear(din, dout, rngs=rngs)
            self.linear2 = nnx.Linear(din, dout, rngs=rngs)

    class Block(nnx.Module):
        def __init__(self, din: int, dout: int, *, rngs: nnx.Rngs) -> None:
            self.linear = nnx.Linear(din, dout, rngs=rngs)
            self.submodule = SubModule(din, dout, rngs=rngs)
            self.dropout = nnx.Dropout(0.5)
            self.batch_norm = nnx.BatchNorm(10, rngs=rngs)

    model = Block(2, 5, rngs=nnx.Rngs(0))
    expected = [
        ("batch_norm", "BatchNorm"),
        ("dropout", "Dropout"),
        ("linear", "Linear"),
        ("submodule", "SubModule"),
    ]
    for function in (nnx.iter_children, nnx.iter_module_children, compat.iter_children):
        assert [(path, type(m).__name__) for path, m in function(model)] == expected
    linear = nnx.Linear(2, 5, rngs=nnx.Rngs(0))
    assert list(nnx.iter_module_children(linear)) == []
    assert [(path, type(v).__name__) for path, v in nnx.iter_children(linear)] == [
        ("bias", "Param"),
        ("kernel", "Param"),
    ]
    rngs = nnx.Rngs(0)  # flax 0.12.8: [('default', 'RngStream')]
    assert [(key, type(c).__name__) for key, c in nnx.iter_module_children(rngs)] == [
        ("default", "RngStream")
    ]
    with nnx.set_graph_mode(False):  # compat keeps graph mode, and so the same children
        assert [path for path, _ in compat.iter_children(model)] == [p for p, _ in expected]
