"""Variable kinds and modules for the display tests, on nnx-graph alone."""

from __future__ import annotations

import jax.numpy as jnp

import nnx_graph as ng


class Param(ng.Variable):
    pass


class BatchStat(ng.Variable):
    pass


class Count(ng.Variable):
    pass


class Linear(ng.Module):
    def __init__(self, din, dout):
        self.kernel = Param(jnp.linspace(-1.0, 1.0, din * dout).reshape(din, dout))
        self.bias = Param(jnp.zeros((dout,)))
        self.din = din


class Norm(ng.Module):
    def __init__(self, n):
        self.scale = Param(jnp.ones(n))
        self.mean = BatchStat(jnp.zeros(n))


class MLP(ng.Module):
    def __init__(self):
        self.linear1 = Linear(2, 16)
        self.norm = Norm(16)
        self.linear2 = Linear(16, 5)
        self.count = Count(jnp.array(0, dtype=jnp.uint32))
