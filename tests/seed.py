"""Reading the seed tutorial and its expected values (shared/ sits beside the repository)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

SEED_DIR = Path(
    os.environ.get("NNX_SEED_DIR", Path(__file__).resolve().parents[2] / "shared" / "seed")
)


def _read(name: str) -> str:
    """A seed file's text; the tests that need it are skipped in a plain clone."""
    path = SEED_DIR / name
    if not path.is_file() and os.environ.get("NNX_REQUIRE_SEED"):
        raise FileNotFoundError(f"NNX_REQUIRE_SEED is set but the seed tutorial is not at {path}")
    if not path.is_file():
        pytest.skip(
            f"the seed tutorial is not here ({path}): set NNX_SEED_DIR to its folder",
            allow_module_level=True,
        )
    return path.read_text()


def code_cells(name: str = "flax_basics.md") -> list[str]:
    """The executable code cells of a MyST notebook, import line changed to `import nnx`."""
    text = _read(name)
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S)
    runnable = [c for c in cells if "skip-execution" not in c.split("\n", 1)[0]]
    return [c.replace("from flax import nnx", "import nnx") for c in runnable]


def expected_prints() -> list[tuple[str, str]]:
    """(cell, printed text) rows of expected_values.md's table, in order."""
    rows = []
    for line in _read("expected_values.md").splitlines():
        match = re.match(r"\| ([^|]+?) \| `(.+)` \|$", line)
        if match:
            rows.append((match.group(1), match.group(2)))
    return rows
