"""Ahead-of-time compilation of ``nnx.jit`` functions: ``f.lower(m, x).compile()``.

``jax.jit``'s ``Lowered`` and ``Compiled`` take the pure function's arguments: a
``Compiled`` called with a Module rejects it. These wrappers keep the object protocol:
``Lowered.compile()`` returns a ``Compiled`` that takes the same arguments as the
jitted function, runs the executable on their leaves, and writes the new state back
into the objects, exactly as a call of the ``nnx.jit`` function does. Everything else
(``as_text()``, ``cost_analysis()``, ``compiler_ir()``, ...) passes through to JAX's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnx_graph import message
from nnx_transforms._protocol import InputSpec

if TYPE_CHECKING:
    from nnx_transforms._jit import JitWrapped


class Lowered:
    """``JitWrapped.lower(...)``: JAX's ``Lowered``, whose ``compile()`` takes objects.

    >>> import jax.numpy as jnp
    >>> from nnx_transforms import jit
    >>> lowered = jit(lambda x: x * 2).lower(jnp.ones(2))
    >>> lowered.compile()(jnp.ones(2)).tolist()
    [2.0, 2.0]
    """

    def __init__(self, lowered: Any, wrapped: JitWrapped, spec: InputSpec) -> None:
        self.lowered = lowered
        self._wrapped = wrapped
        self._spec = spec

    def compile(self, *args: Any, **kwargs: Any) -> Compiled:
        """Compile; the result is called like the ``nnx.jit`` function."""
        return Compiled(self.lowered.compile(*args, **kwargs), self._wrapped, self._spec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lowered, name)


class Compiled:
    """A compiled ``nnx.jit`` function for one argument structure; writes state back."""

    def __init__(self, compiled: Any, wrapped: JitWrapped, spec: InputSpec) -> None:
        self.compiled = compiled
        self._wrapped = wrapped
        self._spec = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        wrapped = self._wrapped
        args, kwargs, statics = wrapped._take_statics(args, kwargs)
        lifted = wrapped._cache.lift(args, kwargs, statics)
        if lifted.spec != self._spec:
            name = getattr(wrapped, "__name__", "f")
            raise TypeError(
                message(
                    f"nnx.jit: {name}.lower(...).compile() was called with arguments whose "
                    "structure differs from those it was lowered for.",
                    [
                        "the objects' graphs, the arguments' pytree structure or the static "
                        "arguments changed"
                    ],
                    expected="arguments shaped like the ones passed to lower()",
                    fix=f"lower again for these arguments: {name}.lower(*args).compile(), "
                    f"or call {name}(*args) directly",
                )
            )
        out = self.compiled([], lifted.flat.read_leaves(), [], lifted.other_leaves)
        return wrapped._write_back(lifted, out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled, name)
