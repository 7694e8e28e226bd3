"""``nnx.transforms.general``: ``split_inputs`` / ``merge_inputs`` (flax's names).

Lift a plain JAX transform to Objects by hand:
``split_inputs(jax.jit(merge_inputs(f)))``; see ``nnx_transforms.split_inputs``.

>>> import jax.numpy as jnp
>>> merge_inputs(lambda x: x * 2)(jnp.array(1.0))[0]
(None,)
"""

from nnx_transforms import merge_inputs as merge_inputs
from nnx_transforms import split_inputs as split_inputs

__all__ = ["merge_inputs", "split_inputs"]
