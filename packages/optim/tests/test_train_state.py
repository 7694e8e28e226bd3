"""nnx.TrainState: the flax.training style over (graphdef, params), as flax has it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nnx_graph import Module, State, split
from nnx_optim import TrainState
from nnx_variables import BatchStat, Param

X = jnp.array([[1.0, 2.0], [3.0, 4.0]])
Y = jnp.array([[1.0], [0.0]])


class Model(Module):
    def __init__(self):
        self.w = Param(jnp.array([[0.5], [-0.5]]))
        self.count = BatchStat(jnp.array(0))

    def __call__(self, x):
        self.count.value += 1
        return x @ self.w.value


def loss(params, graphdef, counts):
    out, _ = graphdef.apply(params, counts)(X)
    return ((out - Y) ** 2).mean()


def test_apply_gradients_matches_optax_and_steps():
    graphdef, params, counts = split(Model(), Param, BatchStat)
    tx = optax.adam(0.1)
    state = TrainState.create(graphdef, params=params, tx=tx)
    assert int(state.step) == 0

    @jax.jit
    def step(state):
        grads = jax.grad(loss)(state.params, state.graphdef, counts)
        return state.apply_gradients(grads=grads)

    state = step(step(state))
    w = {"w": params["w"].value}
    opt = tx.init(w)
    for _ in range(2):
        g = jax.grad(lambda w: ((X @ w["w"] - Y) ** 2).mean())(w)
        u, opt = tx.update(g, opt, w)
        w = optax.apply_updates(w, u)
    np.testing.assert_allclose(state.params["w"].value, w["w"], rtol=1e-6)
    assert int(state.step) == 2 and isinstance(state.params["w"], Param)


def test_subclasses_add_fields_and_apply_takes_them_by_name():
    class WithStats(TrainState):
        batch_stats: State

    graphdef, params, counts = split(Model(), Param, BatchStat)
    state = WithStats.create(graphdef, params=params, tx=optax.sgd(0.1), batch_stats=counts)
    out, (_, new_state) = state.apply("params", "batch_stats")(X)
    assert out.shape == (2, 1) and int(new_state["count"].value) == 1
    leaves = jax.tree.leaves(state)
    assert len(leaves) == len(jax.tree.leaves((params, counts, state.opt_state))) + 1
    replaced = state.replace(batch_stats=new_state.filter(BatchStat))
    assert (
        int(replaced.batch_stats["count"].value) == 1 and int(state.batch_stats["count"].value) == 0
    )
