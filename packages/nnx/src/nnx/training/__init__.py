"""``nnx.training``: flax's package of ``ema``, ``metrics`` and ``optimizer``.

Using it imports ``nnx_metrics`` (``nnx.training.metrics``), which ``import nnx`` alone
does not.
"""

from nnx.training import ema as ema
from nnx.training import metrics as metrics
from nnx.training import optimizer as optimizer
