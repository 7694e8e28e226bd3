"""Models for the display tests, built on nnx-graph alone (no nnx_variables, no layers).

The display package must test green when installed with only nnx-graph and treescope,
so the Variable kinds and modules used here are defined in the tests themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: make display_models importable

from display_models import MLP


@pytest.fixture
def model():
    return MLP()


@pytest.fixture
def tangled():
    """A model with a shared sub-module, a shared Variable and a cycle."""
    model = MLP()
    model.alias = model.linear1
    model.layers = [model.linear2, {"tied": model.linear1.kernel}]
    model.norm.parent = model
    return model
