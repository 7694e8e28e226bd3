"""A griffe extension: ``from ._impl import X as X`` in a package makes X public.

Our packages state their public names by redundant-alias re-exports (the convention type
checkers read) rather than ``__all__``; griffe counts an imported name as private unless
``__all__`` lists it, so without this the API reference would show no names at all.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe


class RedundantAliasesArePublic(griffe.Extension):
    """Mark every ``import X as X`` alias public, as PEP 484's re-export rule does."""

    def on_alias_instance(self, *, node: Any, alias: griffe.Alias, **kwargs: Any) -> None:
        """Set the alias public when its import statement renames it to its own name."""
        if isinstance(node, ast.ImportFrom | ast.Import):
            for name in node.names:
                if name.asname is not None and name.asname == alias.name:
                    base = name.name.rsplit(".", 1)[-1]
                    if base == name.asname:
                        alias.public = True


_PROMPT = re.compile(r"^(\s*)>>> ")


class DoctestsAreCode(griffe.Extension):
    """Show a docstring's doctest runs as Python code blocks, not as Markdown text.

    Our docstrings hold doctests outside any "Examples" section; Markdown would read their
    output (``[('w',), ()]``) as cross-references and their prompts as quotes.
    """

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Fence each run of ``>>>`` lines and their output."""
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)


def fence_doctests(text: str) -> str:
    """Wrap every doctest run (prompts, continuations, output up to a blank line) in a fence."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _PROMPT.match(lines[index])
        if not match:
            out.append(lines[index])
            index += 1
            continue
        indent = match.group(1)
        out.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            out.append(lines[index])
            index += 1
        out.append(f"{indent}```")
    return "\n".join(out)
