"""Ahead-of-time use of ``nnx.jit`` functions: ``f.trace``, ``f.lower``, ``f.eval_shape``.

``jax.jit``'s ``Lowered`` and ``Compiled`` take the pure function's arguments: a
``Compiled`` called with a Module rejects it. These wrappers keep the object protocol:
``Lowered.compile()`` returns a ``Compiled`` that takes the same arguments as the
jitted function, runs the executable on their leaves, and writes the new state back
into the objects, exactly as a call of the ``nnx.jit`` function does. Everything else
(``as_text()``, ``cost_analysis()``, ``compiler_ir()``, ...) passes through to JAX's.
``f.trace(m, x)`` is the step before: JAX's ``Traced`` (``.jaxpr``, ``.out_info``) whose
``lower()`` gives the same ``Lowered``. ``f.eval_shape(m, x)`` gives the result's shapes
and dtypes without running anything, and leaves the objects untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnx_graph import GraphDef, message
from nnx_graph import unflatten as unflatten_graph
from nnx_transforms._protocol import InputSpec, rebuild_output

if TYPE_CHECKING:
    from nnx_transforms._jit import JitWrapped


class Traced:
    """``JitWrapped.trace(...)``: JAX's ``Traced``, whose ``lower()`` keeps the objects.

    >>> import jax.numpy as jnp
    >>> from nnx_transforms import jit
    >>> traced = jit(lambda x: x * 2).trace(jnp.ones(2))
    >>> traced.lower().compile()(jnp.ones(2)).tolist()
    [2.0, 2.0]
    """

    def __init__(self, traced: Any, wrapped: JitWrapped, spec: InputSpec) -> None:
        self.traced = traced
        self._wrapped = wrapped
        self._spec = spec

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Lower the trace; ``compile()`` of the result takes the function's arguments."""
        return Lowered(self.traced.lower(*args, **kwargs), self._wrapped, self._spec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.traced, name)


def eval_shape(wrapped: JitWrapped, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``JitWrapped.eval_shape``: the result with ShapeDtypeStructs for arrays.

    Objects the function builds come back abstract (their Variables hold shapes);
    the objects passed in are not modified.
    """
    args, kwargs, statics = wrapped._take_statics(args, kwargs)
    lifted = wrapped._cache.lift(args, kwargs, statics, fun=wrapped.fun, op="nnx.jit")
    jitted: Any = wrapped._jitted  # jax types its eval_shape method loosely
    spec, _, new_leaves, dynamic = jitted.eval_shape(
        lifted.spec, None, [], lifted.flat.read_leaves(), [], lifted.other_leaves
    )
    out_roots: tuple[Any, ...] = ()
    if spec.out_object_positions:
        out_graphdef = GraphDef(spec.graphdef.edges[spec.n_inputs :])
        out_roots, _ = unflatten_graph(out_graphdef, new_leaves, existing=lifted.nodes())
    return rebuild_output(spec, out_roots, dynamic)


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
        lifted = wrapped._cache.lift(args, kwargs, statics, fun=wrapped.fun, op="nnx.jit")
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
