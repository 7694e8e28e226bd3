"""CheckpointManager: numbered steps in one directory, old ones pruned, saves in the background.

A thin layer over ``orbax.checkpoint.CheckpointManager``: orbax owns the directory
layout (``root/<step>/default``), the atomic rename that makes an interrupted save
invisible (and the removal of such leftovers when the directory is next opened), the
background thread and the pruning; this class adds the graph side
(``save`` takes a model or Optimizer, ``restore`` reads into a target exactly as
``nnx_checkpoint.restore`` does, with its checks and shardings).

Which steps survive pruning: the last ``max_to_keep``, plus the best ``keep_best`` by the
``metric`` passed to ``save`` (either rule alone keeps a step).
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Literal, TypeVar

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from nnx_checkpoint._checkpoint import CheckpointError, restore, saved_tree
from nnx_graph import Filter, message

T = TypeVar("T")

ITEM = "default"  # orbax's directory name for a manager's only item


class CheckpointManager:
    """Save a training run's state every few steps and restore the newest (or best) one.

    ``save`` returns as soon as the arrays are copied off the devices; the write goes
    on in the background while training continues. ``wait_until_finished`` blocks
    until every save is on disk (call it before exiting, or use the manager as a
    context manager, which also closes it).

    Args:
        directory: the root directory; one sub-directory per step.
        max_to_keep: keep the newest this many steps (``None``: keep all).
        metric: the key of ``save(..., metrics=...)`` that ranks steps for ``keep_best``.
        keep_best: also keep the best this many steps by ``metric``.
        mode: ``'min'`` when a smaller metric is better (a loss), ``'max'`` otherwise.
        async_save: write in the background (``False`` makes ``save`` block).

    >>> import tempfile, jax.numpy as jnp, nnx_graph
    >>> state = nnx_graph.State({'w': nnx_graph.Variable(jnp.ones(2))})
    >>> with CheckpointManager(tempfile.mkdtemp(), max_to_keep=2) as manager:
    ...     for step in range(3):
    ...         manager.save(step, state)
    ...     manager.wait_until_finished()
    ...     manager.all_steps()
    [1, 2]
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_to_keep: int | None = None,
        metric: str | None = None,
        keep_best: int | None = None,
        mode: Literal["min", "max"] = "max",
        async_save: bool = True,
    ) -> None:
        if keep_best is not None and metric is None:
            raise ValueError(
                message(
                    f"nnx_checkpoint.CheckpointManager: keep_best={keep_best} needs the "
                    "metric that ranks the steps.",
                    fix="CheckpointManager(root, keep_best=3, metric='accuracy', mode='max')",
                )
            )
        if mode not in ("min", "max"):
            raise ValueError(
                message(
                    f"nnx_checkpoint.CheckpointManager: mode={mode!r}.",
                    expected="'min' (smaller is better, a loss) or 'max'",
                    fix="CheckpointManager(root, metric='loss', keep_best=3, mode='min')",
                )
            )
        self.directory = os.path.abspath(os.fspath(directory))
        self.metric = metric
        self.mode = mode
        policies: list[Any] = []
        if max_to_keep is not None:
            policies.append(checkpoint_managers.LatestN(n=max_to_keep))
        if keep_best is not None:
            policies.append(
                checkpoint_managers.BestN(
                    get_metric_fn=self._rank, reverse=mode == "min", n=keep_best
                )
            )
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=async_save,
            # a save killed midway leaves '<step>.orbax-checkpoint-tmp'; never read as a
            # step, it is removed when the directory is next opened
            cleanup_tmp_directories=True,
            # orbax writes a step's metrics only when it ranks steps by them
            best_fn=None if metric is None else self._rank,
            best_mode=mode,
            preservation_policy=(
                checkpoint_managers.AnyPreservationPolicy(policies) if policies else None
            ),
        )
        self._manager = ocp.CheckpointManager(
            self.directory, item_handlers=ocp.PyTreeCheckpointHandler(), options=options
        )

    def _rank(self, metrics: Any) -> float:
        return float(metrics[self.metric])

    def save(
        self, step: int, obj_or_state: Any, *, metrics: dict[str, float] | None = None
    ) -> None:
        """Start saving ``obj_or_state`` (a model, Optimizer, State) as ``step``."""
        if self.metric is not None and (metrics is None or self.metric not in metrics):
            raise ValueError(
                message(
                    f"nnx_checkpoint.CheckpointManager.save: step {step} has no "
                    f"{self.metric!r} in metrics={metrics!r}; it ranks the steps kept.",
                    fix=f"manager.save(step, model, metrics={{{self.metric!r}: value}})",
                )
            )
        tree, custom = saved_tree(obj_or_state, "nnx_checkpoint.CheckpointManager.save")
        plain = None if metrics is None else {k: float(v) for k, v in metrics.items()}
        self._manager.save(
            step, args=ocp.args.PyTreeSave(tree), metrics=plain, custom_metadata=custom
        )

    def restore(self, step: int | None, target: T, filter: Filter = ...) -> T:
        """Read ``step`` (``None``: the newest complete one) into ``target``.

        The same contract as ``nnx_checkpoint.restore``: every mismatch is reported
        before anything changes, arrays land in the target's shardings.
        """
        self.wait_until_finished()
        chosen = self.latest_step() if step is None else step
        if chosen is None or chosen not in self.all_steps():
            raise CheckpointError(
                message(
                    f"nnx_checkpoint.CheckpointManager.restore: no step {chosen} in "
                    f"{self.directory}.",
                    expected=f"one of the saved steps {list(self.all_steps())}",
                    fix="manager.restore(manager.latest_step(), model)",
                )
            )
        return restore(self.step_directory(chosen), target, filter)

    def step_directory(self, step: int) -> str:
        """Where ``step``'s arrays are stored (readable by ``ocp.StandardCheckpointer``)."""
        return os.path.join(self.directory, str(step), ITEM)

    def latest_step(self) -> int | None:
        """The newest complete step, or ``None`` when there is none."""
        step = self._manager.latest_step()
        return None if step is None else int(step)

    def best_step(self) -> int | None:
        """The best step by ``metric`` among those kept (the newest without a metric)."""
        if self.metric is None:
            return self.latest_step()
        ranked = [
            (self._rank(metrics), step)
            for step in self.all_steps()
            if (metrics := self._manager.metrics(step)) is not None
        ]
        if not ranked:
            return None
        return (min if self.mode == "min" else max)(ranked)[1]

    def all_steps(self) -> list[int]:
        """Every complete step kept, oldest first."""
        return sorted(int(step) for step in self._manager.all_steps())

    def wait_until_finished(self) -> None:
        """Block until every save started so far is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release orbax's background resources."""
        self._manager.close()

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
