"""Importing nnx_display leaves treescope unimported; treescope still finds our handlers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

MODULE = """
import jax.numpy as jnp
import nnx_graph as ng

class Param(ng.Variable):
    pass

class Tiny(ng.Module):
    def __init__(self):
        self.w = Param(jnp.ones((2, 3)))
"""


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_does_not_import_treescope():
    out = run("""
        import sys
        import nnx_display
        print("treescope" in sys.modules, any(m.startswith("treescope") for m in sys.modules))
    """)
    assert out.split() == ["False", "False"]


def test_text_display_does_not_import_treescope():
    out = run(
        MODULE
        + """
import sys
import nnx_display
nnx_display.display(Tiny())
print("treescope" in sys.modules)
"""
    )
    assert out.splitlines()[0] == "Tiny( # Param: 6 (24 B)"
    assert out.splitlines()[-1] == "False"


def test_treescope_imported_after_us_uses_our_handlers():
    out = run(
        MODULE
        + """
import nnx_display
import treescope
print(treescope.render_to_text(Tiny()))
"""
    )
    assert out.splitlines()[0] == "Tiny( # Param: 6 (24 B)"
    assert "w=Param(" in out


def test_treescope_imported_before_us_uses_our_handlers():
    out = run(
        """
import treescope
"""
        + MODULE
        + """
import nnx_display
print(treescope.render_to_text(Tiny()))
"""
    )
    assert out.splitlines()[0] == "Tiny( # Param: 6 (24 B)"


def test_import_hook_removes_itself_and_keeps_treescope_importable():
    out = run("""
import sys
import nnx_display
hooks = [type(f).__name__ for f in sys.meta_path]
import treescope.type_registries as registries
after = [type(f).__name__ for f in sys.meta_path]
print("_TreescopeWatcher" in hooks, "_TreescopeWatcher" in after)
print(registries._LAZY_MODULE_SETUP_FUNCTIONS["nnx_display"][0])
print(registries.__spec__.loader.get_filename("treescope.type_registries").endswith(".py"))
""")
    assert out.split() == ["True", "False", "nnx_display._treescope_handlers", "True"]
