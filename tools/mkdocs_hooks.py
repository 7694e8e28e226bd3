"""mkdocs hooks: the API index page, and live ``nnx.display`` output embedded in pages.

The API index is generated from the umbrella's imports, one row per public ``nnx`` name
pointing at its entry in its package's reference page: a name that a package page does not
document fails the strict build, so the reference cannot fall behind the API.

Names that are JAX's own functions re-exported (``nnx.relu`` is ``jax.nn.relu``) are listed
where a package page holds ``<!-- nnx-jax-reexports: MODULE -->``, each linking to JAX's
documentation, rather than parsed from JAX's sources (half a minute a build).

A page holding the comment ``<!-- nnx-display-output -->`` is run at build time (its python
blocks, as tests/docs_runner.py runs them) with ``nnx.display`` recording what it is given;
each such comment is replaced by treescope's HTML of what the python block above it showed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UMBRELLA = ROOT / "packages" / "nnx" / "src" / "nnx" / "__init__.py"
DISPLAY_MARKER = "<!-- nnx-display-output -->"
_REEXPORT = re.compile(r"^from (nnx_\w+) import (\w+) as \2$", re.M)
_LAZY = re.compile(r'^\s+"(\w+)": \("(nnx_\w+)", (None|"\w+")\),', re.M)
_PACKAGE_PAGE = {
    "nnx_graph": "graph",
    "nnx_variables": "variables",
    "nnx_transforms": "transforms",
    "nnx_layers": "layers",
    "nnx_optim": "optim",
    "nnx_metrics": "metrics",
    "nnx_checkpoint": "checkpoint",
    "nnx_display": "display",
}
_JAX_REEXPORTS = re.compile(r"<!-- nnx-jax-reexports: ([\w.]+) -->")
_JAX_DOCS = "https://docs.jax.dev/en/latest/_autosummary/{}.html"
_rendered: dict[str, str] = {}


def jax_reexports(module_name: str) -> list[tuple[str, str]]:
    """(name, jax's qualified name) of each of a module's names that is JAX's own object."""
    import importlib

    module = importlib.import_module(module_name)
    found = []
    for name in sorted(vars(module)):
        value = getattr(module, name)
        origin = getattr(value, "__module__", "") or ""
        if not name.startswith("_") and origin.startswith("jax") and callable(value):
            found.append((name, _public_jax_name(module_name, name)))
    return found


def _public_jax_name(module_name: str, name: str) -> str:
    namespace = "jax.nn.initializers" if module_name.endswith("initializers") else "jax.nn"
    return f"{namespace}.{name}"


def _jax_table(module_name: str) -> str:
    rows = ["| name | is |", "|---|---|"]
    for name, jax_name in jax_reexports(module_name):
        rows.append(f"| `{module_name}.{name}` | [`{jax_name}`]({_JAX_DOCS.format(jax_name)}) |")
    return "\n".join(rows) + "\n"


def api_index() -> str:
    """The API index page: every public ``nnx.X`` with the package that defines it."""
    text = UMBRELLA.read_text()
    rows = [(name, package) for package, name in _REEXPORT.findall(text)]
    rows += [(name, package) for name, package, _ in _LAZY.findall(text)]
    lines = [
        "# API index",
        "",
        "Every name `import nnx` gives, and the package that defines it. Each package can be",
        "installed and imported on its own (`import nnx_graph`); `nnx.X` is the same object as",
        "the package's `X`. `nnx.metrics` and `nnx.checkpoint` are the packages themselves,",
        "imported on first use.",
        "",
        "| name | defined in |",
        "|---|---|",
    ]
    from_jax = {name for name, _ in jax_reexports("nnx_layers")}
    for name, package in sorted(set(rows), key=lambda row: row[0].lower()):
        page = _PACKAGE_PAGE[package]
        if name in from_jax:
            link = f"[`nnx.{name}`]({page}.md#activations) (JAX's own)"
        elif name in ("metrics", "checkpoint", "initializers"):
            link = f"[`nnx.{name}`][{package}{'.' + name if name == 'initializers' else ''}]"
        else:
            link = f"[`nnx.{name}`][{package}.{name}]"
        lines.append(f"| {link} | [{package}]({page}.md) |")
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """Add the generated API index to the site."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, "api/index.md", content=api_index()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Run a page that embeds display output, keeping treescope's HTML of each display."""
    markdown = _JAX_REEXPORTS.sub(lambda match: _jax_table(match.group(1)), markdown)
    if DISPLAY_MARKER not in markdown:
        return markdown
    shown = _run_recording_displays(markdown, page.file.src_uri)
    lines = markdown.split("\n")
    for number, line in enumerate(lines):
        if line.strip() == DISPLAY_MARKER:
            # the python block closest above the marker is the one whose displays it shows
            block_line = max((start for start in shown if start <= number), default=None)
            if block_line is None or not shown[block_line]:
                raise ValueError(
                    f"{page.file.src_uri}:{number + 1}: no nnx.display call in the python "
                    "block above this marker"
                )
            key = f"<!-- nnx-display-output {len(_rendered)} -->"
            _rendered[key] = "".join(_wrap(html) for html in shown[block_line])
            lines[number] = key
    return "\n".join(lines)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Put each recorded display's HTML where the page's markers are."""
    for key in [key for key in _rendered if key in html]:
        html = html.replace(key, _rendered.pop(key))
    return html


def _wrap(rendered: str) -> str:
    return f'<div class="nnx-display-output">{rendered}</div>'


def _run_recording_displays(markdown: str, page: str) -> dict[int, list[str]]:
    """Run the page's python blocks; per block (by its fence's line index), what it showed."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import docs_runner
    finally:
        sys.path.pop(0)
    import treescope

    import nnx
    from nnx_display._lazy import set_up_treescope

    set_up_treescope()
    shown: dict[int, list[str]] = {}
    current: list[str] = []

    def record(*objs: Any) -> None:
        current.extend(treescope.render_to_html(obj, compressed=True) for obj in objs)

    namespace: dict[str, Any] = {"__name__": "__docs__"}
    original = nnx.display
    nnx.display = record  # type: ignore[assignment]
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as workdir, contextlib.redirect_stdout(io.StringIO()):
            os.chdir(workdir)
            for block in docs_runner.blocks(markdown, page):
                if block.language == "python" and block.skip_reason is None:
                    current.clear()
                    exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
                    shown[block.line - 1] = list(current)
    finally:
        os.chdir(cwd)
        nnx.display = original  # type: ignore[assignment]
    return shown
