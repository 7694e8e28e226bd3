"""``nnx.transforms``: flax's namespace for the transforms' modules (``general``).

Every transform itself is at the top level (``nnx.jit``, ``nnx.shard_map``, ...).
"""

from nnx.transforms import general as general
