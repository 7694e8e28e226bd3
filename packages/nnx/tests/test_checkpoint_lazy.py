"""``nnx.checkpoint`` is nnx-checkpoint, imported on first use: ``import nnx`` never loads orbax."""

from __future__ import annotations

import subprocess
import sys


def test_checkpoint_is_lazy_and_orbax_is_not_imported_by_nnx() -> None:
    code = (
        "import sys, nnx; print(any(m.split('.')[0] in ('orbax', 'nnx_checkpoint') "
        "for m in sys.modules)); "
        "print(nnx.checkpoint is sys.modules['nnx_checkpoint'], 'checkpoint' in dir(nnx)); "
        "print(nnx.checkpoint.CheckpointManager.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "nnx_checkpoint._manager"]
