"""Give treescope our handlers without importing treescope until something renders.

``import nnx`` must stay as cheap as ``import jax, optax``, and treescope costs about as
much to import as the rest of nnx together, so nothing imports it up front. Yet a user
who calls ``treescope.render_to_html(model)`` or ``treescope.register_as_default()``
directly should still see our rendering, not a generic ``repr``.

Treescope has a hook for exactly this: before each rendering it runs
``type_registries.update_registries_for_imports``, which, for every entry
``{module: (setup_module, setup_function)}`` of ``_LAZY_MODULE_SETUP_FUNCTIONS`` whose
``module`` has been imported, imports ``setup_module`` and calls the function once. It is
how treescope itself adds jax, torch and pydantic support. We add an entry for
``nnx_display`` pointing at ``nnx_display._treescope_handlers.set_up_treescope``:

* if treescope is already imported when ``nnx_display`` is, the entry is added at once;
* otherwise a one-shot import hook (``sys.meta_path``) waits for
  ``treescope.type_registries`` to be loaded, adds the entry right after, and removes
  itself. Until then it costs one string comparison per import.

Rejected alternatives: a ``__treescope_repr__`` method on ``Object`` would put display
code in ``nnx-graph`` (the graph package must not know about treescope); importing
treescope in ``nnx_display/__init__`` would cost every ``import nnx``; registering only
inside ``display()`` would leave direct treescope users with generic output. The
registry dict is private to treescope, so if a later release drops it the entry is
skipped and ``display()`` (or a call to ``set_up_treescope()``) still registers the
handlers directly.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

_WATCHED = "treescope.type_registries"
_ENTRY = ("nnx_display", ("nnx_display._treescope_handlers", "set_up_treescope"))


def set_up_treescope() -> None:
    """Register nnx's treescope handlers now (importing treescope).

    Only needed where treescope's lazy setup hook is unavailable; ``display`` and
    treescope renderings already do it.

    >>> set_up_treescope()
    >>> import treescope, nnx_graph
    >>> nnx_graph.Object in treescope.type_registries.TREESCOPE_HANDLER_REGISTRY
    True
    """
    from nnx_display._treescope_handlers import set_up_treescope as set_up

    set_up()


def register_lazy_setup() -> None:
    """Arrange for treescope to run our setup before its first rendering."""
    registries = sys.modules.get(_WATCHED)
    if registries is not None:
        _add_entry(registries)
    elif not any(isinstance(finder, _TreescopeWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TreescopeWatcher())


def _add_entry(registries: types.ModuleType) -> None:
    lazy = getattr(registries, "_LAZY_MODULE_SETUP_FUNCTIONS", None)
    if isinstance(lazy, dict):
        lazy.setdefault(*_ENTRY)


class _TreescopeWatcher(importlib.abc.MetaPathFinder):
    """A one-shot import hook: when treescope's registries load, add our entry."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _WATCHED:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _AddEntryAfterLoading(spec.loader)
                return spec  # type: ignore[no-any-return]
        return None


class _AddEntryAfterLoading(importlib.abc.Loader):
    """Wraps treescope's own loader; adds our entry once the module has run."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        _add_entry(module)

    def __getattr__(self, name: str) -> Any:  # get_data, get_filename, is_package, ...
        return getattr(self._loader, name)
