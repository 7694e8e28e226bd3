"""nnx-metrics: training metrics that are object graphs, so they can be jitted.

A metric (``Average``, ``Welford``, ``Accuracy``, or several at once in a
``MultiMetric``) keeps its running totals in ``MetricState`` Variables. ``update(**kwargs)``
adds a batch in place, ``compute()`` reads the result and ``reset()`` starts over. Passed to
``nnx.jit`` next to the model, a metric is updated inside the compiled step and its new
totals are written back to the caller's object.
"""

from nnx_metrics._metrics import Accuracy as Accuracy
from nnx_metrics._metrics import Average as Average
from nnx_metrics._metrics import Metric as Metric
from nnx_metrics._metrics import MetricState as MetricState
from nnx_metrics._metrics import MultiMetric as MultiMetric
from nnx_metrics._metrics import Statistics as Statistics
from nnx_metrics._metrics import Welford as Welford
