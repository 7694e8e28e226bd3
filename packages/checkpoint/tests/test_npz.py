from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnx_checkpoint import CheckpointError, export_npz, import_npz
from nnx_graph import Module, State, Variable, state
from nnx_layers import BatchNorm, Dropout, Linear
from nnx_variables import Param, Rngs


class Net(Module):
    def __init__(self, rngs: Rngs) -> None:
        self.layers = [Linear(3, 4, rngs=rngs), Linear(4, 2, rngs=rngs)]
        self.bn = BatchNorm(4, rngs=rngs)
        self.dropout = Dropout(0.1, rngs=rngs)


def test_export_and_import_round_trip(tmp_path: object) -> None:
    source = Net(Rngs(0, dropout=1))
    export_npz(f"{tmp_path}/net.npz", source)
    with np.load(f"{tmp_path}/net.npz") as file:
        assert "layers/0/kernel" in file.files
        assert file["dropout/rngs/dropout/key"].dtype == np.uint32  # key_data
    target = import_npz(f"{tmp_path}/net.npz", Net(Rngs(5, dropout=6)))
    for path, variable in state(source).flat_dict().items():
        got, want = state(target).flat_dict()[path].value, variable.value
        if jax.dtypes.issubdtype(want.dtype, jax.dtypes.prng_key):
            got, want = jax.random.key_data(got), jax.random.key_data(want)
        np.testing.assert_array_equal(got, want, err_msg=str(path))


def test_bfloat16_survives_the_float32_stand_in(tmp_path: object) -> None:
    saved = State({"w": Variable(jnp.arange(4, dtype=jnp.bfloat16))})
    export_npz(f"{tmp_path}/w.npz", saved)
    restored = import_npz(f"{tmp_path}/w.npz", State({"w": Variable(jnp.zeros(4, jnp.bfloat16))}))
    assert restored["w"].value.dtype == jnp.bfloat16
    np.testing.assert_array_equal(restored["w"].value, saved["w"].value)


def test_a_params_only_import_and_the_errors(tmp_path: object) -> None:
    export_npz(f"{tmp_path}/net.npz", Net(Rngs(0)))
    target = Net(Rngs(1))
    mean = target.bn.mean.value
    import_npz(f"{tmp_path}/net.npz", target, Param)
    assert target.bn.mean.value is mean
    wrong = State({"layers": {0: {"kernel": Variable(jnp.ones(2))}}})
    with pytest.raises(CheckpointError, match=r"state\.layers\[0\]\.kernel: checkpoint has"):
        import_npz(f"{tmp_path}/net.npz", wrong, ...)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=r"cannot read .*bad\.npz"):
        import_npz(f"{tmp_path}/bad.npz", target)
