"""Root tests: cross-package behaviour, the seed tutorial end to end."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: make seed.py importable
