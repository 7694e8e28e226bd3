from collections.abc import Iterator

import jax
import pytest


@pytest.fixture(autouse=True)
def strict_rank_promotion() -> Iterator[None]:
    """Layer internals must broadcast explicitly; user-style code keeps JAX defaults."""
    with jax.numpy_rank_promotion("raise"):
        yield
