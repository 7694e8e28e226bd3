"""Same updates, same numbers as flax.nnx 0.12.8's metrics (runs where flax is installed)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nnx_metrics import Accuracy, Average, MultiMetric, Welford

fnnx = pytest.importorskip("flax.nnx", reason="flax is only in the bench dependency group")

LOGITS = [jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), jnp.array([[0.5, 0.4], [0.0, 1.0]])]
LABELS = [jnp.array([1, 1, 0]), jnp.array([0, 0])]
LOSSES = [jnp.array([0.5, 1.5, 2.0]), jnp.array([3.0, 0.25])]


def test_multimetric_matches_flax():
    ours = MultiMetric(accuracy=Accuracy(), loss=Average("loss"), w=Welford("loss"))
    theirs = fnnx.MultiMetric(
        accuracy=fnnx.metrics.Accuracy(),
        loss=fnnx.metrics.Average("loss"),
        w=fnnx.metrics.Welford("loss"),
    )
    for logits, labels, loss in zip(LOGITS, LABELS, LOSSES, strict=True):
        for m in (ours, theirs):
            m.update(logits=logits, labels=labels, loss=loss)
    a, b = ours.compute(), theirs.compute()
    np.testing.assert_allclose(a["accuracy"], b["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    for field in ("mean", "standard_error_of_mean", "standard_deviation"):
        np.testing.assert_allclose(getattr(a["w"], field), getattr(b["w"], field), rtol=1e-5)


def test_masked_and_binary_accuracy_match_flax():
    mask = jnp.array([True, False, True])
    ours, theirs = Accuracy(threshold=0.5), fnnx.metrics.Accuracy(threshold=0.5)
    for m in (ours, theirs):
        m.update(logits=jnp.array([0.7, 0.1, 0.4]), labels=jnp.array([1, 0, 1]), mask=mask)
    np.testing.assert_allclose(ours.compute(), theirs.compute(), rtol=1e-6)
