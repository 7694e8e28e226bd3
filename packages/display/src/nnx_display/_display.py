"""``display``: treescope in a notebook, a text tree everywhere else."""

from __future__ import annotations

import sys
from typing import Any

from nnx_graph import render_text


def display(*objs: Any) -> None:
    """Show each object: interactively in a notebook, as a text tree in a terminal.

    In a Jupyter (IPython kernel) session this renders each object with treescope,
    foldable, with arrays summarised; treescope is imported only then. Anywhere else
    (a terminal, a script, a test) it prints the text tree that ``repr`` gives a Module:
    sub-modules and Variables with shapes and dtypes, per-kind parameter counts and
    bytes on each Object, shared nodes and cycles shown once and then named by path.
    Modules, Variables, States, GraphDefs and pytrees holding them all work.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import Module, Variable
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.factor = Variable(jnp.ones(3))
    >>> display(Scale())
    Scale( # Variable: 3 (12 B)
      factor=Variable(value=Array(shape=(3,), dtype=float32)),
    )
    """
    if in_notebook():
        import treescope

        from nnx_display._lazy import set_up_treescope

        set_up_treescope()
        for obj in objs:
            treescope.display(obj)
        return
    for obj in objs:
        print(render_text(obj))


def in_notebook() -> bool:
    """Whether we run in an IPython kernel that can show rich output (Jupyter, Colab).

    A terminal IPython shell has no kernel and gets text. IPython is looked up in
    ``sys.modules`` rather than imported: a kernel has always imported it already.

    >>> in_notebook()
    False
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
