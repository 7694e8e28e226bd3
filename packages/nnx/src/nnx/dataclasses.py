"""``nnx.dataclasses``: flax 0.10's module of dataclass helpers, over ours.

Code written for 0.10 spells its dataclass Objects with these names
(``nnx.dataclasses.static(default=...)``, ``nnx.dataclasses.Static[int]``); they are
the umbrella's ``nnx.dataclass``, ``nnx.field``, ``nnx.static`` and ``nnx.Static``.

>>> import jax.numpy as jnp
>>> import nnx
>>> @dataclass
... class Point(nnx.Module):
...     x: jnp.ndarray
...     name: Static[str] = 'p'
...     size: int = static(default=2)
>>> sorted(nnx.state(Point(jnp.ones(1))))
['x']
"""

from __future__ import annotations

from nnx_graph import Static, dataclass, field, static

__all__ = ["Static", "dataclass", "field", "static"]
