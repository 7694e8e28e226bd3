"""Logical axis rules give flax 0.12.8's partition specs (flax: the bench group only)."""

import jax.numpy as jnp
import pytest

from nnx_graph import State
from nnx_variables import Param, get_partition_spec, logical_axis_rules

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")

RULES = (("batch", "data"), ("embed", None), ("mlp", "model"), ("heads", ("data", "model")))
NAMES = [("embed", "mlp"), ("mlp", "embed"), ("batch", None), ("heads", "kv"), ("model", "mlp")]


def specs(lib, state_cls, param_cls, names, context, local):
    metadata = {"sharding_rules": local} if local else {}
    params = {
        f"p{i}": param_cls(
            jnp.ones((4,) * len(n)), out_sharding=n, eager_sharding=False, **metadata
        )
        for i, n in enumerate(names)
    }
    state = state_cls(params)
    rules = lib.logical_axis_rules(context) if context else None
    if rules is None:
        tree = lib.get_partition_spec(state)
    else:
        with rules:
            tree = lib.get_partition_spec(state)
    return {key: tuple(tree[key].get_value()) for key in params}


@pytest.mark.parametrize(
    ("context", "local"),
    [
        (RULES, None),
        (None, RULES),
        (RULES, RULES),
        ((("mlp", "model"),), (("embed", None),)),
        (None, None),
    ],
)
def test_partition_specs_match_flax(context, local):
    class Ours:
        logical_axis_rules = staticmethod(logical_axis_rules)
        get_partition_spec = staticmethod(get_partition_spec)

    ours = specs(Ours, State, Param, NAMES, context, local)
    theirs = specs(fnnx, fnnx.State, fnnx.Param, NAMES, context, local)
    assert ours == theirs


def test_conflicting_rules_are_refused_like_flax():
    state = State(
        {
            "p": Param(
                jnp.ones((4,)),
                out_sharding=("mlp",),
                eager_sharding=False,
                sharding_rules=(("mlp", "model"),),
            )
        }
    )
    flax_state = fnnx.State(
        {
            "p": fnnx.Param(
                jnp.ones((4,)),
                out_sharding=("mlp",),
                eager_sharding=False,
                sharding_rules=(("mlp", "model"),),
            )
        }
    )
    with fnnx.logical_axis_rules((("mlp", "data"),)), pytest.raises(ValueError):
        fnnx.get_partition_spec(flax_state)
    with logical_axis_rules((("mlp", "data"),)), pytest.raises(ValueError, match="'mlp'"):
        get_partition_spec(state)
