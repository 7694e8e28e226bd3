"""Metrics whose running totals are Variables, so they travel through the transforms.

A metric is an ``Object`` holding ``MetricState`` Variables; ``update(**kwargs)`` adds a
batch to them in place and ``compute()`` reads the result. Because the totals are
Variables, a metric passed to ``nnx.jit`` is updated inside the compiled function and the
new totals are written back to the caller's object, as every other Variable is.

Totals accumulate in float32 and counts in int32 whatever the inputs' dtype, so a
bfloat16 loss averaged over many steps keeps its digits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from nnx_graph import Object, Variable, describe, message


class MetricState(Variable[jax.Array]):
    """The kind of the Variables a metric accumulates into.

    >>> import jax.numpy as jnp
    >>> MetricState(jnp.array(0.0)).value.tolist()
    0.0
    """


class Metric(Object):
    """Base class of metrics: ``update(**kwargs)``, ``compute()`` and ``reset()``.

    Subclasses keep their totals in ``MetricState`` Variables and mutate them in place
    (``self.total.value = ...``), never replacing the Variable, so a reference held
    elsewhere (a ``MultiMetric``, a jitted function's cache) stays valid.

    >>> import jax.numpy as jnp
    >>> class Maximum(Metric):
    ...     def __init__(self):
    ...         self.best = MetricState(jnp.array(-jnp.inf))
    ...     def update(self, *, values, **_):
    ...         self.best.value = jnp.maximum(self.best.value, jnp.max(values))
    ...     def compute(self):
    ...         return self.best.value
    ...     def reset(self):
    ...         self.best.value = jnp.array(-jnp.inf)
    >>> m = Maximum()
    >>> m.update(values=jnp.array([1.0, 3.0]))
    >>> m.compute().tolist()
    3.0
    """

    def update(self, **kwargs: Any) -> None:
        """Add a batch to the running totals, in place."""
        raise NotImplementedError(f"{type(self).__name__} must define update(**kwargs)")

    def compute(self) -> Any:
        """The metric's value over everything added since the last ``reset``."""
        raise NotImplementedError(f"{type(self).__name__} must define compute()")

    def reset(self) -> None:
        """Forget everything added so far, in place."""
        raise NotImplementedError(f"{type(self).__name__} must define reset()")


def _argument(metric: Metric, name: str, kwargs: dict[str, Any]) -> Any:
    if name not in kwargs:
        given = ", ".join(sorted(kwargs)) or "none"
        raise TypeError(
            message(
                f"{type(metric).__name__}.update: missing keyword argument '{name}'.",
                [f"keyword arguments given: {given}"],
                expected=f"the values to add as {name}=...",
                fix=f"metric.update({name}=values), or build it as "
                f"{type(metric).__name__}('<your keyword>')",
            )
        )
    return kwargs[name]


class Average(Metric):
    """The mean of every value passed as ``argname`` since the last reset.

    A scalar counts as one value; an array adds each of its elements. ``mask`` (same
    shape as the values, or broadcastable to it) keeps only the entries where it is true.
    The mean of nothing is NaN.

    >>> import jax.numpy as jnp
    >>> avg = Average()
    >>> avg.update(values=jnp.array([1.0, 2.0, 3.0, 4.0]))
    >>> avg.update(values=jnp.array([0.0, 2.0]))
    >>> avg.compute().tolist()
    2.0
    """

    def __init__(self, argname: str = "values") -> None:
        self.argname = argname
        self.total = MetricState(jnp.array(0, jnp.float32))
        self.count = MetricState(jnp.array(0, jnp.int32))

    def reset(self) -> None:
        """Set the total and the count back to zero."""
        self.total.value = jnp.array(0, jnp.float32)
        self.count.value = jnp.array(0, jnp.int32)

    def update(self, mask: jax.Array | None = None, **kwargs: Any) -> None:
        """Add ``kwargs[argname]`` (entries where ``mask`` is true) to the average."""
        values = _argument(self, self.argname, kwargs)
        if isinstance(values, int | float):
            if mask is not None:
                raise ValueError(
                    message(
                        f"{type(self).__name__}.update: a mask was given with a Python "
                        f"scalar {self.argname}={values!r}.",
                        expected="an array of values the mask can select from",
                        fix=f"metric.update({self.argname}=jnp.asarray(values), mask=mask)",
                    )
                )
            self.total.value = self.total.value + jnp.float32(values)
            self.count.value = self.count.value + 1
            return
        values = jnp.asarray(values)
        count: jax.Array | int
        if mask is None:
            total, count = jnp.sum(values, dtype=jnp.float32), values.size
        else:
            keep = jnp.broadcast_to(jnp.asarray(mask), values.shape)
            total = jnp.sum(jnp.where(keep, values, 0), dtype=jnp.float32)
            count = jnp.sum(keep, dtype=jnp.int32)
        self.total.value = self.total.value + total
        self.count.value = self.count.value + count

    def compute(self) -> jax.Array:
        """``total / count``."""
        return self.total.value / self.count.value


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Statistics:
    """What ``Welford.compute`` returns: the mean, its standard error, the deviation.

    A pytree, so it can be returned from ``nnx.jit``.

    >>> import jax.numpy as jnp
    >>> Statistics(jnp.array(1.0), jnp.array(0.0), jnp.array(0.0)).mean.tolist()
    1.0
    """

    mean: jax.Array
    standard_error_of_mean: jax.Array
    standard_deviation: jax.Array


class Welford(Metric):
    """Running mean and (population) variance by Welford's numerically stable merge.

    Each batch's mean and variance are merged into the running ones (Chan et al.'s
    pairwise update), so the result does not suffer the cancellation of
    ``E[x^2] - E[x]^2`` over a long stream.

    >>> import jax.numpy as jnp
    >>> w = Welford()
    >>> w.update(values=jnp.array([1.0, 2.0, 3.0, 4.0]))
    >>> stats = w.compute()
    >>> stats.mean.tolist(), round(stats.standard_deviation.tolist(), 4)
    (2.5, 1.118)
    """

    def __init__(self, argname: str = "values") -> None:
        self.argname = argname
        self.count = MetricState(jnp.array(0, jnp.int32))
        self.mean = MetricState(jnp.array(0, jnp.float32))
        self.m2 = MetricState(jnp.array(0, jnp.float32))

    def reset(self) -> None:
        """Set the count, mean and sum of squared deviations back to zero."""
        self.count.value = jnp.array(0, jnp.int32)
        self.mean.value = jnp.array(0, jnp.float32)
        self.m2.value = jnp.array(0, jnp.float32)

    def update(self, **kwargs: Any) -> None:
        """Merge the values of ``kwargs[argname]`` into the running statistics."""
        values = jnp.asarray(_argument(self, self.argname, kwargs), jnp.float32)
        count = values.size
        old_count = self.count.value
        new_count = old_count + count
        delta = jnp.mean(values) - self.mean.value
        self.count.value = new_count
        self.mean.value = self.mean.value + delta * count / new_count
        self.m2.value = (
            self.m2.value + jnp.var(values) * count + delta**2 * count * old_count / new_count
        )

    def compute(self) -> Statistics:
        """The mean, the standard error of the mean and the standard deviation."""
        deviation = jnp.sqrt(self.m2.value / self.count.value)
        return Statistics(
            mean=self.mean.value,
            standard_error_of_mean=deviation / jnp.sqrt(self.count.value),
            standard_deviation=deviation,
        )


class Accuracy(Average):
    """The fraction of correct predictions.

    Multi-class (``threshold=None``): ``logits`` has one more axis than ``labels`` and the
    prediction is its argmax. Binary (``threshold`` a float): ``logits`` has the shape of
    ``labels``, a prediction is positive where ``logits >= threshold``, a label where it
    is above zero.

    >>> import jax.numpy as jnp
    >>> acc = Accuracy()
    >>> acc.update(logits=jnp.array([[0.1, 0.9], [0.8, 0.2]]), labels=jnp.array([1, 1]))
    >>> acc.compute().tolist()
    0.5
    """

    def __init__(self, threshold: float | None = None, argname: str = "values") -> None:
        if threshold is not None and not isinstance(threshold, float):
            raise TypeError(
                message(
                    f"Accuracy: threshold must be a float, got {describe(threshold)}.",
                    fix=f"Accuracy(threshold={float(threshold)!r})"
                    if isinstance(threshold, int)
                    else "Accuracy(threshold=0.5)",
                )
            )
        self.threshold = threshold
        super().__init__(argname)

    def update(  # type: ignore[override]  # reads logits and labels, not argname
        self,
        *,
        logits: jax.Array,
        labels: jax.Array,
        mask: jax.Array | None = None,
        **_: Any,
    ) -> None:
        """Add one batch of predictions; other keyword arguments are ignored."""
        logits, labels = jnp.asarray(logits), jnp.asarray(labels)
        binary = self.threshold is not None
        wanted = labels.ndim if binary else labels.ndim + 1
        if logits.ndim != wanted:
            kind = "binary" if binary else "multi-class"
            raise ValueError(
                message(
                    f"Accuracy.update: {kind} logits {describe(logits)} do not fit labels "
                    f"{describe(labels)}.",
                    expected=f"logits with {wanted} dimensions",
                    fix="pass threshold=None for class logits, a float for binary scores",
                )
            )
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(
                message(
                    f"Accuracy.update: labels must be integers, got {describe(labels)}.",
                    fix="metric.update(logits=logits, labels=labels.astype(jnp.int32))",
                )
            )
        if self.threshold is not None:
            correct = (logits >= self.threshold) == (labels > 0)
        else:
            correct = jnp.argmax(logits, axis=-1) == labels
        super().update(mask=mask, **{self.argname: correct})


class MultiMetric(Metric):
    """Several named metrics updated together; ``compute()`` returns a dict by name.

    Every keyword argument of ``update`` goes to every metric, each reading the ones it
    needs. ``mask`` may be one array for all of them or a dict by metric name.

    >>> import jax.numpy as jnp
    >>> metrics = MultiMetric(accuracy=Accuracy(), loss=Average("loss"))
    >>> metrics.update(
    ...     loss=jnp.array(0.5), logits=jnp.array([[0.0, 1.0]]), labels=jnp.array([1])
    ... )
    >>> {k: v.tolist() for k, v in metrics.compute().items()}
    {'accuracy': 1.0, 'loss': 0.5}
    """

    def __init__(self, **metrics: Metric) -> None:
        self._metric_names = tuple(metrics)
        for name, metric in metrics.items():
            setattr(self, name, metric)

    def reset(self) -> None:
        """Reset every metric."""
        for name in self._metric_names:
            getattr(self, name).reset()

    def update(self, **updates: Any) -> None:
        """Pass the keyword arguments (and each metric's ``mask``) to every metric."""
        mask = updates.pop("mask", None)
        for name in self._metric_names:
            own = mask.get(name) if isinstance(mask, dict) else mask
            extra = {} if own is None else {"mask": own}
            getattr(self, name).update(**updates, **extra)

    def compute(self) -> dict[str, Any]:
        """Every metric's value, by the name it was given."""
        return {name: getattr(self, name).compute() for name in self._metric_names}
