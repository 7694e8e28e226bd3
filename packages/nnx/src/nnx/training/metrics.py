"""``nnx.training.metrics``: flax's metrics module; the names of ``nnx.metrics``.

flax code reaches ``Average`` or ``Accuracy`` through this path
(``nnx.training.metrics.Average('loss')``); they are ``nnx_metrics``'s classes.
``Object`` is the name flax 0.10's module had.

>>> import nnx
>>> nnx.training.metrics.Average is nnx.metrics.Average
True
"""

from nnx_graph import Object, Pytree, Variable
from nnx_metrics import Accuracy, Average, Metric, MetricState, MultiMetric, Statistics, Welford

__all__ = [
    "Accuracy",
    "Average",
    "Metric",
    "MetricState",
    "MultiMetric",
    "Object",
    "Pytree",
    "Statistics",
    "Variable",
    "Welford",
]
