"""Error classes and the one place that decides how errors print.

Every message a user sees follows the same order: a summary sentence naming the
operation, then one line per problem (the path as the user would type it and the value
in short form), then what was expected, then the fix as a line of code. Building
messages here keeps paths and values printed the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nnx_graph._paths import Path, format_path


class GraphError(ValueError):
    """Base of the errors raised for graphs that do not fit an operation."""


class FilterError(GraphError):
    """Filters passed to ``split`` or ``pop`` did not cover every Variable."""


class FilterWarning(UserWarning):
    """A name or tag filter selected nothing while a close name exists: likely a typo.

    A warning, not an error: a tag filter that matches nothing in one model can be right
    for another. Silence it with ``warnings.filterwarnings('ignore', category=...)``.
    """


class StateMismatchError(GraphError):
    """A State does not fit the GraphDef or object graph it is applied to."""


class StaticAttributeError(GraphError, TypeError):
    """A static (non-array, non-Variable) attribute cannot go into a GraphDef."""


class SowError(GraphError, TypeError):
    """``Module.sow`` found an attribute of another kind under the name it writes.

    A ValueError, as flax raises, and a TypeError, as it was here before.
    """


class AttributeNotFoundError(GraphError, AttributeError):
    """``set_attributes`` found no module with an attribute it was asked to set.

    A ValueError, as flax raises, and an AttributeError, as it was here before.
    """


class TraceContextError(GraphError):
    """An object was mutated inside a JAX transform it was not passed through.

    ``target`` is the Object or Variable that was written, so a transform that catches
    the error can say where the user's code reached it from (a closure variable, say).
    """

    def __init__(self, text: str, target: object = None) -> None:
        super().__init__(text)
        self.target = target


class EscapedTraceError(GraphError):
    """An object built inside a transform was used after the transform returned."""


class HijaxNotSupportedError(NotImplementedError):
    """``Variable(..., hijax=True)``: jax.Ref-backed Variables are not supported yet."""


class LayerInputError(ValueError):
    """A layer was called with an input it cannot take (wrong feature size, dtype, ...).

    The layer that raises it does not know where it sits in the model. Each enclosing
    Module's ``__call__`` prepends the attribute path that leads to it while the error
    travels out, so the message names the layer the way the user would type it
    (``model.encoder.linear1``). ``path`` is relative to ``holder``, the outermost
    module that has located it so far.

    >>> error = LayerInputError(object(), "expected 3 features, got shape (2, 4)")
    >>> error.path = ("linear1",)
    >>> str(error)
    'model.linear1 (object): expected 3 features, got shape (2, 4)'
    """

    def __init__(
        self,
        layer: Any,
        problem: str,
        *,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(problem)
        self.layer = layer
        self.problem = problem
        self.expected = expected
        self.fix = fix
        self.path: Path = ()
        self.holder: Any = layer

    def __str__(self) -> str:
        kind = type(self.layer).__name__
        where = f"{format_path(self.path)} ({kind})" if self.path else kind
        return message(f"{where}: {self.problem}", expected=self.expected, fix=self.fix)


def describe(value: Any) -> str:
    """Return a short description of ``value``: its type, plus shape and dtype for arrays.

    >>> import numpy as np
    >>> describe(np.zeros((2, 3), dtype=np.float32))
    'ndarray(shape=(2, 3), dtype=float32)'
    >>> describe([1, 2])
    'list'
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    name = type(value).__name__
    if name == "ArrayImpl" or "Tracer" in name:  # jax's concrete and traced arrays
        name = "Array"
    if isinstance(shape, tuple) and dtype is not None:
        return (
            f"{name}(shape={shape}, dtype={np.dtype(dtype).name if _is_np_dtype(dtype) else dtype})"
        )
    if isinstance(value, int | float | bool | str) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else f"{name}"
    return name


def _is_np_dtype(dtype: Any) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True


def message(
    summary: str,
    problems: Iterable[str] = (),
    *,
    expected: str | None = None,
    fix: str | None = None,
) -> str:
    """Assemble an error message: summary, one line per problem, expectation, fix."""
    lines = [summary]
    lines.extend(f"  - {problem}" for problem in problems)
    if expected:
        lines.append(f"Expected: {expected}")
    if fix:
        lines.append(f"Fix: {fix}")
    return "\n".join(lines)


def path_problem(path: Path, value: Any, root: str = "model", note: str = "") -> str:
    """One problem line: the path, the value in short form, and an optional note."""
    line = f"{format_path(path, root)}: {describe(value)}"
    return f"{line} ({note})" if note else line


class StaleCacheError(RuntimeError):
    """Check mode found a cached walk that no longer matches the graph it describes.

    Only raised when ``check_fast_path`` is on (or ``NNX_CHECK_FAST_PATH=1``): it means
    a structural edit bypassed the tracking (``object.__setattr__``, ``obj.__dict__[k] =
    ...``) or the library itself missed one.
    """
