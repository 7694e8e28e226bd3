"""Runs the code blocks of a Markdown page, so that no page shows code that does not work.

The convention, for every page under docs/ and the README:

- every python block runs, in page order, in one namespace per page, in a fresh temporary
  working directory;
- a text block right after a python block (blank lines only between) is that block's
  expected stdout, compared as doctest compares (ELLIPSIS, NORMALIZE_WHITESPACE);
- a block right after the line `<!-- docs: skip (reason) -->` is shown but not run (code
  that needs a cluster, or a library the docs do not install); the reason is required;
- blocks in any other language (bash, console, text on its own) are not run.

Run it as `python tests/docs_runner.py PAGE.md ...`: it exits non-zero naming the page, the
line and the difference. tests/test_docs.py runs every page this way, each in its own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import io
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs:\s*skip\b(?P<reason>.*?)-->\s*$")
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text, where it starts, and why it is skipped."""

    language: str
    code: str
    line: int
    skip_reason: str | None
    follows_previous: bool  # only blank lines between this block and the one before


class PageError(AssertionError):
    """A block of a page failed or printed something other than its expected output."""


def blocks(text: str, page: str = "<page>") -> list[Block]:
    """The fenced blocks of a Markdown text, in order (indented fences, as in admonitions)."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    last_end = -2
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = match["info"].strip().split(" ")[0].lower()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not _is_closing(lines[index], indent, fence):
            body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else "")
            index += 1
        if index == len(lines):
            raise PageError(f"{page}:{start + 1}: a code block is never closed")
        between = lines[last_end + 1 : start]
        previous = lines[start - 1] if start > 0 else ""
        skip = _SKIP.match(previous)
        reason = skip["reason"].strip(" ()") if skip else None
        if skip and not reason:
            raise PageError(f"{page}:{start}: `docs: skip` needs a reason in parentheses")
        found.append(
            Block(
                language=language,
                code="\n".join(body) + "\n",
                line=start + 1,
                skip_reason=reason,
                follows_previous=bool(found) and all(not s.strip() for s in between),
            )
        )
        last_end = index
        index += 1
    return found


def _is_closing(line: str, indent: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0])


def run_page(path: Path) -> int:
    """Run every python block of a page; the number run. Raises PageError on a failure."""
    page = str(path)
    found = blocks(path.read_text(), page)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    with tempfile.TemporaryDirectory(prefix="nnx-docs-") as workdir:
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            for position, block in enumerate(found):
                if block.language not in ("python", "py") or block.skip_reason is not None:
                    continue
                printed = _run_block(block, namespace, page)
                ran += 1
                following = found[position + 1] if position + 1 < len(found) else None
                if following and following.language == "text" and following.follows_previous:
                    _compare(following.code, printed, page, block.line)
        finally:
            os.chdir(cwd)
    return ran


def _run_block(block: Block, namespace: dict[str, object], page: str) -> str:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
    except Exception as error:
        trace = "".join(traceback.format_exception(error))
        raise PageError(
            f"{page}:{block.line}: the block raised {type(error).__name__}\n{trace}"
            f"--- it printed before failing:\n{out.getvalue()}"
        ) from error
    return out.getvalue()


def _compare(want: str, got: str, page: str, line: int) -> None:
    if _CHECKER.check_output(want, got, _FLAGS):
        return
    raise PageError(
        f"{page}:{line}: the block printed other text than the page shows\n"
        f"--- the page shows:\n{want}--- the block printed:\n{got}"
    )


def main(argv: list[str]) -> int:
    """Run each page given; print one line per page; non-zero if any failed."""
    failed = 0
    for name in argv:
        try:
            ran = run_page(Path(name))
        except PageError as error:
            failed += 1
            print(f"FAIL {error}", file=sys.stderr)
        else:
            print(f"ok   {name}: {ran} blocks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
