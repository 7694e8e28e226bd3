from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_graph import split, state
from nnx_metrics import Accuracy, Average, Metric, MetricState, MultiMetric, Statistics, Welford

BATCHES = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, -2.0]), np.array([7.0, 1.0, 1.0])]


def test_average_matches_numpy_over_batches():
    avg = Average()
    assert np.isnan(avg.compute())
    for b in BATCHES:
        avg.update(values=jnp.asarray(b))
    np.testing.assert_allclose(avg.compute(), np.concatenate(BATCHES).mean(), rtol=1e-6)
    avg.reset()
    assert np.isnan(avg.compute())


def test_average_scalars_mask_and_argname():
    avg = Average("loss")
    avg.update(loss=1.0)
    avg.update(loss=2, other=jnp.ones(3))
    assert avg.compute().tolist() == 1.5
    avg.reset()
    avg.update(loss=jnp.array([1.0, 10.0, 3.0]), mask=jnp.array([True, False, True]))
    assert avg.compute().tolist() == 2.0
    assert avg.count.value.dtype == jnp.int32 and avg.total.value.dtype == jnp.float32


def test_average_accumulates_bf16_in_float32():
    avg = Average()
    for _ in range(3):
        avg.update(values=jnp.full((1000,), 1.001, jnp.bfloat16))
    np.testing.assert_allclose(avg.compute(), float(jnp.bfloat16(1.001)), rtol=1e-6)


def test_missing_keyword_names_it_and_the_fix():
    with pytest.raises(TypeError, match=r"missing keyword argument 'loss'(.|\n)*Fix: metric"):
        Average("loss").update(values=jnp.ones(2))


def test_mask_with_scalar_raises():
    with pytest.raises(ValueError, match=r"mask was given(.|\n)*Fix: metric.update"):
        Average().update(values=1.0, mask=jnp.ones(1))


def test_welford_matches_numpy():
    w = Welford()
    for b in BATCHES:
        w.update(values=jnp.asarray(b))
    stats = w.compute()
    assert isinstance(stats, Statistics)
    flat = np.concatenate(BATCHES)
    np.testing.assert_allclose(stats.mean, flat.mean(), rtol=1e-6)
    np.testing.assert_allclose(stats.standard_deviation, flat.std(), rtol=1e-5)
    np.testing.assert_allclose(stats.standard_error_of_mean, flat.std() / np.sqrt(flat.size), 1e-5)
    w.reset()
    assert int(w.count.value) == 0 and w.count.value.dtype == jnp.int32


def test_welford_scalar_updates():
    w = Welford()
    for v in [1.0, 2.0, 3.0]:
        w.update(values=v)
    np.testing.assert_allclose(w.compute().standard_deviation, np.std([1.0, 2.0, 3.0]), 1e-6)


def test_accuracy_multiclass_and_binary():
    acc = Accuracy()
    logits = jnp.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.0, 1.0]])
    acc.update(logits=logits, labels=jnp.array([1, 1, 2]))
    np.testing.assert_allclose(acc.compute(), 2 / 3, rtol=1e-6)
    binary = Accuracy(threshold=0.5)
    binary.update(logits=jnp.array([0.7, 0.2, 0.5]), labels=jnp.array([1, 1, 0]))
    np.testing.assert_allclose(binary.compute(), 1 / 3, rtol=1e-6)


def test_accuracy_errors():
    with pytest.raises(
        TypeError, match=r"threshold must be a float(.|\n)*Fix: Accuracy\(threshold=1.0\)"
    ):
        Accuracy(threshold=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"multi-class logits(.|\n)*Fix: pass threshold"):
        Accuracy().update(logits=jnp.ones(3), labels=jnp.ones(3, jnp.int32))
    with pytest.raises(ValueError, match=r"labels must be integers(.|\n)*Fix: metric.update"):
        Accuracy().update(logits=jnp.ones((3, 2)), labels=jnp.ones(3))


def test_multimetric_update_compute_reset_and_masks():
    metrics = MultiMetric(accuracy=Accuracy(), loss=Average("loss"))
    logits = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    metrics.update(loss=jnp.array([1.0, 3.0]), logits=logits, labels=jnp.array([1, 1]))
    out = metrics.compute()
    assert list(out) == ["accuracy", "loss"]
    assert out["accuracy"].tolist() == 0.5 and out["loss"].tolist() == 2.0
    metrics.reset()
    assert all(np.isnan(v) for v in metrics.compute().values())
    keep = jnp.array([True, False])
    metrics.update(loss=jnp.array([1.0, 3.0]), logits=logits, labels=jnp.array([1, 1]), mask=keep)
    assert metrics.compute() == {"accuracy": 1.0, "loss": 1.0}
    metrics.reset()
    metrics.update(
        loss=jnp.array([1.0, 3.0]), logits=logits, labels=jnp.array([1, 1]), mask={"loss": keep}
    )
    assert metrics.compute() == {"accuracy": 0.5, "loss": 1.0}


def test_state_is_metric_state_variables():
    metrics = MultiMetric(loss=Average(), stats=Welford())
    # split raises unless the filters cover every Variable: all of them are MetricState.
    _, metric_state = split(metrics, MetricState)
    assert sorted(metric_state.to_pure_dict()["loss"]) == ["count", "total"]
    assert sorted(state(metrics).to_pure_dict()["stats"]) == ["count", "m2", "mean"]


def test_base_class_methods_must_be_overridden():
    class Empty(Metric):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define update"):
        Empty().update(values=1)


def test_jit_updates_flow_back():
    transforms = pytest.importorskip("nnx_transforms")
    metrics = MultiMetric(loss=Average("loss"), spread=Welford("loss"))

    @transforms.jit
    def step(metrics: MultiMetric, x: jax.Array) -> None:
        metrics.update(loss=x)

    for b in BATCHES:
        step(metrics, jnp.asarray(b, jnp.float32))
    flat = np.concatenate(BATCHES)
    np.testing.assert_allclose(metrics.compute()["loss"], flat.mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics.spread.compute().standard_deviation, flat.std(), rtol=1e-5)
    metrics.reset()
    step(metrics, jnp.ones(2))
    assert metrics.compute()["loss"].tolist() == 1.0
