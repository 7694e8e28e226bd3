"""A small CNN on the 8x8 handwritten digits that scikit-learn ships (no download).

Shows a complete training run a user would write with nnx:

- a model with ``nnx.Conv``, ``nnx.BatchNorm``, ``nnx.Dropout`` and pooling
  (``nnx.max_pool``, ``nnx.avg_pool``), switched between ``model.train()`` and
  ``model.eval()``;
- ``nnx.Optimizer`` with optax, one ``nnx.jit`` step per batch;
- accuracy and loss accumulated with ``nnx.metrics.MultiMetric`` inside the jitted steps;
- a ``tqdm`` progress bar per epoch;
- a checkpoint per epoch with ``nnx.checkpoint.CheckpointManager``: running the same
  command again with the same output directory resumes after the last saved epoch
  (parameters, batch statistics, optimizer state and the Dropout RNG stream);
- loss and accuracy curves saved as a PNG with matplotlib.

Run it (under half a minute on two CPU cores)::

    python examples/digits_cnn.py --out build/examples/digits_cnn

or a reduced run, as the tests do::

    python examples/digits_cnn.py --epochs 2 --limit 256 --out /tmp/digits
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import matplotlib
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import nnx

matplotlib.use("Agg")  # write files only; never open a window (CI has no display)
import matplotlib.pyplot as plt


class CNN(nnx.Module):
    """Two conv stages on 8x8x1 inputs: 8x8 -> max pool -> 4x4 -> average pool -> 2x2."""

    def __init__(self, width: int, *, dropout: float = 0.25, rngs: nnx.Rngs) -> None:
        # momentum 0.9, not the default 0.99: an epoch is only ~22 steps here, and the
        # running averages that eval mode uses must catch up within a few epochs.
        norm = {"momentum": 0.9, "rngs": rngs}
        self.conv1 = nnx.Conv(1, width, kernel_size=(3, 3), rngs=rngs)
        self.bn1 = nnx.BatchNorm(width, **norm)
        self.conv2 = nnx.Conv(width, width, kernel_size=(3, 3), rngs=rngs)
        self.bn2 = nnx.BatchNorm(width, **norm)
        self.conv3 = nnx.Conv(width, 2 * width, kernel_size=(3, 3), rngs=rngs)
        self.bn3 = nnx.BatchNorm(2 * width, **norm)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(2 * 2 * 2 * width, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.bn1(self.conv1(x)))
        x = nnx.relu(self.bn2(self.conv2(x)))
        x = nnx.max_pool(x, (2, 2), strides=(2, 2))  # (batch, 4, 4, width)
        x = nnx.relu(self.bn3(self.conv3(x)))
        x = nnx.avg_pool(x, (2, 2), strides=(2, 2))  # (batch, 2, 2, 2 * width)
        x = x.reshape(x.shape[0], -1)
        return self.head(self.dropout(x))


def make_optimizer(width: int, learning_rate: float, seed: int) -> nnx.Optimizer:
    """The model and its optimizer, built the same way for training and for restoring."""
    model = CNN(width, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
    return nnx.Optimizer(model, optax.adamw(learning_rate, weight_decay=1e-4), wrt=nnx.Param)


def make_metrics() -> nnx.metrics.MultiMetric:
    return nnx.metrics.MultiMetric(
        accuracy=nnx.metrics.Accuracy(), loss=nnx.metrics.Average("loss")
    )


def loss_fn(model: CNN, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits = model(x)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return losses.mean(), logits


@nnx.jit
def train_step(
    optimizer: nnx.Optimizer, metrics: nnx.metrics.MultiMetric, x: jax.Array, y: jax.Array
) -> jax.Array:
    grad_fn = nnx.value_and_grad(loss_fn, has_aux=True)
    (loss, logits), grads = grad_fn(optimizer.model, x, y)
    optimizer.update(optimizer.model, grads)  # parameters and optimizer state, in place
    metrics.update(loss=loss, logits=logits, labels=y)
    return loss


@nnx.jit
def eval_step(
    model: CNN, metrics: nnx.metrics.MultiMetric, x: jax.Array, y: jax.Array, mask: jax.Array
) -> None:
    logits = model(x)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    # The last batch is padded to the full size (one compiled shape); the mask keeps the
    # padding out of both averages.
    metrics.update(loss=losses, logits=logits, labels=y, mask=mask)


def load_data(
    limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1797 digits as (N, 8, 8, 1) floats in [0, 1]; 20% held out, stratified by class."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=seed, stratify=labels
    )
    if limit is not None:  # a reduced run: the first `limit` of each split
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[:limit], y_test[:limit]
    return x_train, y_train, x_test, y_test


def train_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Shuffled full batches; the remainder is dropped (it is a different one each epoch)."""
    order = rng.permutation(len(x))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


def evaluate(
    model: CNN, metrics: nnx.metrics.MultiMetric, x: np.ndarray, y: np.ndarray, batch_size: int
) -> dict[str, float]:
    metrics.reset()
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        pad = batch_size - len(xb)
        mask = np.arange(batch_size) < len(xb)
        xb = np.concatenate([xb, np.zeros((pad, *xb.shape[1:]), xb.dtype)])
        yb = np.concatenate([yb, np.zeros(pad, yb.dtype)])
        eval_step(model, metrics, xb, yb, mask)
    return {name: float(value) for name, value in metrics.compute().items()}


def plot(history: list[dict[str, float]], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross entropy", title="loss", yscale="log")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    ax_acc.plot(epochs, [h["test_accuracy"] for h in history], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32, help="channels of the first convs")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only N examples")
    parser.add_argument("--out", type=Path, default=Path("build/examples/digits_cnn"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    history_path = args.out / "history.json"

    x_train, y_train, x_test, y_test = load_data(args.limit, args.seed)
    print(f"digits: {len(x_train)} train, {len(x_test)} test, 8x8 pixels, 10 classes")
    optimizer = make_optimizer(args.width, args.learning_rate, args.seed)
    metrics = make_metrics()
    history: list[dict[str, float]] = []

    # One directory per epoch under checkpoints/; the newest few are kept.
    with nnx.checkpoint.CheckpointManager(args.out / "checkpoints", max_to_keep=3) as manager:
        first = 1
        if (last := manager.latest_step()) is not None:
            # Resume: the optimizer (and the model inside it) restored in place. The
            # history on disk may have run ahead of the checkpoint if a run was killed
            # between the two writes, so it is cut at the restored epoch.
            manager.restore(last, optimizer)
            history = [h for h in json.loads(history_path.read_text()) if h["epoch"] <= last]
            first = last + 1
            print(f"resumed from epoch {last} in {manager.directory}")
            if last >= args.epochs:
                print(f"already trained {last} epochs: nothing to do (pass a larger --epochs)")

        start = time.perf_counter()
        for epoch in range(first, args.epochs + 1):
            optimizer.model.train()  # Dropout on, BatchNorm updates its statistics
            metrics.reset()
            # A generator seeded by (seed, epoch): a resumed run shuffles exactly as an
            # uninterrupted one would.
            rng = np.random.default_rng([args.seed, epoch])
            batches = train_batches(x_train, y_train, args.batch_size, rng)
            steps = len(x_train) // args.batch_size
            with tqdm(batches, total=steps, desc=f"epoch {epoch}/{args.epochs}") as bar:
                for xb, yb in bar:
                    loss = train_step(optimizer, metrics, xb, yb)
                    bar.set_postfix(loss=f"{float(loss):.3f}")
            train = metrics.compute()

            optimizer.model.eval()  # Dropout off, BatchNorm uses its running averages
            test = evaluate(optimizer.model, metrics, x_test, y_test, args.batch_size)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": float(train["loss"]),
                    "train_accuracy": float(train["accuracy"]),
                    "test_loss": test["loss"],
                    "test_accuracy": test["accuracy"],
                }
            )
            manager.save(epoch, optimizer)  # written in the background
            history_path.write_text(json.dumps(history, indent=1))
            print(
                f"epoch {epoch:3d}  train loss {train['loss']:.4f} "
                f"acc {train['accuracy']:.4f}  test loss {test['loss']:.4f} "
                f"acc {test['accuracy']:.4f}"
            )
        seconds = time.perf_counter() - start

    if not history:
        raise SystemExit("--epochs must be at least 1")
    plot(history, args.out / "digits_cnn.png")
    final = history[-1]
    summary = {**final, "optimizer_steps": int(optimizer.step.value), "seconds": round(seconds, 1)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"test accuracy {final['test_accuracy']:.4f} after {final['epoch']} epochs "
        f"({seconds:.1f} s for this run); curves in {args.out / 'digits_cnn.png'}"
    )
    return summary


if __name__ == "__main__":
    main()
