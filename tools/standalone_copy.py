"""Copy the repository's files into a fresh folder with nothing beside it; print its path.

`make test` runs its test suites in that copy: a test that reads a file outside the
repository (the workspace's ../shared, say) fails or skips there as it would in a user's
plain clone. The copy holds what git tracks plus untracked files git does not ignore (the
working tree under test), and the generated uv.lock so the copy resolves the same versions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def repository_files() -> list[str]:
    """The working tree's files as git sees them (tracked, or untracked and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def main() -> int:
    """Make the copy and print where it is."""
    target = Path(tempfile.mkdtemp(prefix="nnx-standalone-")) / "nnx"
    for name in [*repository_files(), "uv.lock"]:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
