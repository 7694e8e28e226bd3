"""Say which parameters changed since an Optimizer was built (model surgery).

optax keeps per-parameter state (Adam's ``mu`` and ``nu``) in trees shaped like the
parameters at ``tx.init``. Replacing a layer with a bigger one, or adding one, after
``nnx.Optimizer(model, tx)`` leaves that state describing a model that no longer exists,
and optax fails with a broadcasting or pytree-structure error that names neither the
layer nor the way out. Comparing the stored state with what ``tx.init`` would build for
today's parameters (shapes only, via ``jax.eval_shape``) names every parameter that
changed. It runs only once something has already gone wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from nnx_graph import Path, describe, format_path


def changed_parameters(
    tx: Any, opt_treedef: Any, opt_values: list[Any], params: Any, param_flat: Mapping[Path, Any]
) -> list[str]:
    """One line per parameter whose optimizer state no longer fits it; empty if all fit.

    ``params`` is the tree optax sees; ``param_flat`` the same parameters by path, for
    describing their values. A transformation without per-parameter state (``sgd``)
    never gives a line: nothing of it is stale.
    """
    built = _mirrored_shapes(jax.tree_util.tree_unflatten(opt_treedef, opt_values))
    today = _mirrored_shapes(jax.eval_shape(tx.init, params))
    lines = []
    for path, shape in today.items():
        value = _value(param_flat[path]) if path in param_flat else None
        if path not in built:
            lines.append(
                f"{format_path(path)}: {describe(value)} was added after the Optimizer was "
                "built; it has no optimizer state"
            )
        elif built[path] != shape:
            lines.append(
                f"{format_path(path)}: {describe(value)} now; the optimizer state was built "
                f"for shape {built[path]}"
            )
    lines += [
        f"{format_path(path)}: gone from the model; the optimizer state still holds shape "
        f"{shape} for it"
        for path, shape in built.items()
        if path not in today
    ]
    return lines


def _mirrored_shapes(opt_state: Any) -> dict[Path, tuple[int, ...]]:
    """Shapes of the optax leaves that mirror a parameter, by that parameter's path.

    A leaf mirrors a parameter when its path ends in dict keys (``mu['l2']['kernel']``):
    those keys are the parameter's path, as in ``_opt_variable``.
    """
    shapes: dict[Path, tuple[int, ...]] = {}
    for keys, leaf in jax.tree_util.tree_flatten_with_path(opt_state)[0]:
        path: list[Any] = []
        for key in reversed(keys):
            if not isinstance(key, jax.tree_util.DictKey):
                break
            path.append(key.key)
        if path:
            shapes[tuple(reversed(path))] = tuple(getattr(leaf, "shape", ()))
    return shapes


def _value(leaf: Any) -> Any:
    return getattr(leaf, "value", leaf)
