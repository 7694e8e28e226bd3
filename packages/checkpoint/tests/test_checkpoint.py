from __future__ import annotations

import gc
import os
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nnx_checkpoint import CheckpointError, restore, save
from nnx_graph import List, Module, State, Variable, state
from nnx_layers import BatchNorm, Dropout, Linear, gelu
from nnx_optim import Optimizer
from nnx_transforms import eval_shape, jit, value_and_grad
from nnx_variables import BatchStat, Param, Rngs


class MLP(Module):
    def __init__(self, din: int, dmid: int, dout: int, *, rngs: Rngs) -> None:
        self.linear1 = Linear(din, dmid, rngs=rngs)
        self.dropout = Dropout(0.2, rngs=rngs)
        self.bn = BatchNorm(dmid, rngs=rngs)
        self.linear2 = Linear(dmid, dout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear2(gelu(self.dropout(self.bn(self.linear1(x)))))


def make(seed: int = 0) -> Optimizer:
    model = MLP(3, 16, 2, rngs=Rngs(seed, dropout=seed + 1))
    return Optimizer(model, optax.adam(1e-2), wrt=Param)


@jit
def train_step(optimizer: Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    def loss_fn(model: MLP) -> jax.Array:
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = value_and_grad(loss_fn)(optimizer.model)
    optimizer.update(optimizer.model, grads)
    return loss


def batches(n: int) -> list[tuple[jax.Array, jax.Array]]:
    keys = jax.random.split(jax.random.key(42), n)
    return [
        (jax.random.normal(k, (8, 3)), jax.random.normal(jax.random.fold_in(k, 1), (8, 2)))
        for k in keys
    ]


def leaves_equal(a: object, b: object) -> None:
    flat_a, flat_b = state(a).flat_dict(), state(b).flat_dict()
    assert flat_a.keys() == flat_b.keys()
    for path in flat_a:
        x, y = flat_a[path].value, flat_b[path].value
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(x) == jax.random.key_impl(y), path
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.dtype == y.dtype, path
        np.testing.assert_array_equal(x, y, err_msg=str(path))


def test_resumed_training_gives_the_same_losses_as_uninterrupted(tmp_path: object) -> None:
    data = batches(6)
    straight = make()
    expected = [float(train_step(straight, x, y)) for x, y in data]

    first = make()
    losses = [float(train_step(first, x, y)) for x, y in data[:3]]
    save(f"{tmp_path}/ckpt", first)
    resumed = restore(f"{tmp_path}/ckpt", make(seed=7))  # different initial values
    losses += [float(train_step(resumed, x, y)) for x, y in data[3:]]

    assert losses == expected
    assert int(resumed.step.value) == 6
    leaves_equal(resumed, straight)


def test_everything_round_trips_into_an_abstract_model(tmp_path: object) -> None:
    optimizer = make()
    train_step(optimizer, *batches(1)[0])
    save(f"{tmp_path}/ckpt", optimizer)
    abstract = eval_shape(lambda: make(seed=3))
    assert isinstance(abstract.model.linear1.kernel.value, jax.ShapeDtypeStruct)
    restored = restore(f"{tmp_path}/ckpt", abstract)
    assert restored is abstract
    leaves_equal(restored, optimizer)
    assert isinstance(restored.model.bn.mean.value, jax.Array)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_typed_keys_of_any_impl_take_the_targets_impl(tmp_path: object, impl: str) -> None:
    saved = State({"key": Variable(jax.random.key(3, impl=impl)), "n": Variable(jnp.uint32(5))})
    save(f"{tmp_path}/ckpt", saved)
    target = State({"key": Variable(jax.random.key(0, impl=impl)), "n": Variable(jnp.uint32(0))})
    restored = restore(f"{tmp_path}/ckpt", target)
    assert int(target["n"].value) == 0  # a State target is not changed
    assert int(restored["n"].value) == 5
    leaves_equal(restored, saved)


def test_params_only_restore_keeps_the_other_state(tmp_path: object) -> None:
    source = MLP(3, 16, 2, rngs=Rngs(0))
    source.bn.mean.value = jnp.full((16,), 9.0)
    save(f"{tmp_path}/ckpt", source)
    model = MLP(3, 16, 2, rngs=Rngs(5))
    model.bn.mean.value = jnp.full((16,), 2.0)
    restore(f"{tmp_path}/ckpt", model, Param)
    np.testing.assert_array_equal(model.linear1.kernel.value, source.linear1.kernel.value)
    np.testing.assert_array_equal(model.bn.scale.value, source.bn.scale.value)
    np.testing.assert_array_equal(model.bn.mean.value, jnp.full((16,), 2.0))


def test_path_prefix_restore_reads_only_that_part(tmp_path: object) -> None:
    source = MLP(3, 16, 2, rngs=Rngs(0))
    save(f"{tmp_path}/ckpt", source)
    model = MLP(3, 16, 4, rngs=Rngs(5))  # a new head: linear2 does not fit the checkpoint
    before = model.linear2.kernel.value
    restore(f"{tmp_path}/ckpt", model, lambda path, _: path[:1] == ("linear1",))
    np.testing.assert_array_equal(model.linear1.kernel.value, source.linear1.kernel.value)
    assert model.linear2.kernel.value is before


def test_a_mismatched_target_names_every_path_and_is_left_unchanged(tmp_path: object) -> None:
    save(f"{tmp_path}/ckpt", MLP(3, 16, 2, rngs=Rngs(0)))
    model = MLP(3, 8, 2, rngs=Rngs(1))
    del model.bn
    before = {p: v.value for p, v in state(model).flat_dict().items()}
    with pytest.raises(CheckpointError) as info:
        restore(f"{tmp_path}/ckpt", model)
    text = str(info.value)
    assert "model.linear1.kernel: checkpoint has shape=(3, 16), dtype=float32" in text
    assert "expects shape=(3, 8), dtype=float32" in text
    assert "model.bn.mean: in the checkpoint, not in the target" in text
    assert "nothing was changed" in text and "Fix: " in text
    assert all(v.value is before[p] for p, v in state(model).flat_dict().items())


def test_a_wrong_dtype_is_reported(tmp_path: object) -> None:
    save(f"{tmp_path}/ckpt", State({"w": Variable(jnp.ones(2, jnp.float32))}))
    with pytest.raises(CheckpointError, match=r"state\.w: checkpoint has .*float32.*bfloat16"):
        restore(f"{tmp_path}/ckpt", State({"w": Variable(jnp.ones(2, jnp.bfloat16))}))


def test_a_directory_that_is_not_a_checkpoint_is_a_clear_error(tmp_path: object) -> None:
    os.makedirs(f"{tmp_path}/junk")
    with pytest.raises(CheckpointError, match=r"junk is not a readable checkpoint(.|\n)*Fix:"):
        restore(f"{tmp_path}/junk", MLP(3, 16, 2, rngs=Rngs(0)))
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*missing(.|\n)*Fix:"):
        restore(f"{tmp_path}/missing", MLP(3, 16, 2, rngs=Rngs(0)))


def test_saving_over_a_checkpoint_needs_force(tmp_path: object) -> None:
    path = f"{tmp_path}/ckpt"
    save(path, State({"w": Variable(jnp.ones(2))}))
    with pytest.raises(CheckpointError, match=r"already exists(.|\n)*force=True"):
        save(path, State({"w": Variable(jnp.zeros(2))}))
    save(path, State({"w": Variable(jnp.zeros(2))}), force=True)
    assert float(restore(path, State({"w": Variable(jnp.ones(2))}))["w"].value[0]) == 0.0


def test_a_non_graph_target_is_a_type_error(tmp_path: object) -> None:
    with pytest.raises(TypeError, match=r"expected an nnx Object .* got dict(.|\n)*Fix:"):
        save(f"{tmp_path}/ckpt", {"w": jnp.ones(2)})


def test_batch_stats_are_restored(tmp_path: object) -> None:
    model = MLP(3, 16, 2, rngs=Rngs(0))
    model.bn.var.value = jnp.arange(16.0)
    save(f"{tmp_path}/ckpt", model)
    target = state(MLP(3, 16, 2, rngs=Rngs(1)), BatchStat)
    with pytest.raises(CheckpointError, match=r"state\.linear1\.kernel: in the checkpoint, not"):
        restore(f"{tmp_path}/ckpt", target)  # a part of the state: say which part
    stats = restore(f"{tmp_path}/ckpt", target, BatchStat)
    np.testing.assert_array_equal(stats["bn"]["var"].value, jnp.arange(16.0))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's reader
def test_a_truncated_data_file_is_a_clear_error_and_changes_nothing(tmp_path: object) -> None:
    path = f"{tmp_path}/ckpt"
    save(path, State({"w": Variable(jnp.arange(1000.0))}))
    for folder, _, files in os.walk(path):
        for name in files:
            file = os.path.join(folder, name)
            if os.path.basename(folder) == "d" and os.path.getsize(file) > 1000:
                os.truncate(file, 100)
    target = State({"w": Variable(jnp.zeros(1000))})
    with pytest.raises(CheckpointError, match=r"could not be read(.|\n)*truncated(.|\n)*Fix:"):
        restore(path, target)
    assert float(target["w"].value.sum()) == 0.0


LIVE_BYTES: list[int] = []  # what Watched saw, one entry per restored array


class Watched(Param):
    """A Param that records the bytes of every live jax array as a value is written."""

    def set_value(self, value: object, **kwargs: object) -> None:
        LIVE_BYTES.append(sum(a.nbytes for a in jax.live_arrays()))
        super().set_value(value, **kwargs)


class Big(Module):
    def __init__(self, seed: int, arrays: int = 8, size: int = 2**21) -> None:
        # 8 arrays of 8 MiB: 64 MiB; random, so orbax cannot compress them.
        rows = jax.random.normal(jax.random.key(seed), (arrays, size))
        self.weights = List([Watched(row) for row in rows])


def test_a_concrete_restore_frees_each_old_array_as_its_new_one_is_written(
    tmp_path: object,
) -> None:
    source = Big(1)
    save(f"{tmp_path}/ckpt", source)
    model = Big(2)
    total = sum(w.value.nbytes for w in model.weights)
    old = [weakref.ref(w.value) for w in model.weights]
    gc.collect()
    baseline = sum(a.nbytes for a in jax.live_arrays())  # the target and any leftovers
    LIVE_BYTES.clear()

    restore(f"{tmp_path}/ckpt", model)

    # Reading everything before writing would hold 2x (+64 MiB) when the first value is
    # written; a quarter at a time holds the model plus one group of two arrays.
    assert len(LIVE_BYTES) == 8
    extra = max(LIVE_BYTES) - baseline
    assert extra <= total // 4 + 2**20, f"{extra / 2**20:.0f} MiB beyond the model"
    assert all(ref() is None for ref in old)  # the old arrays are gone, not just unlisted
    assert sum(a.nbytes for a in jax.live_arrays()) - baseline <= 2**20
    leaves_equal(model, source)


def test_damaged_data_names_exactly_the_variables_already_restored(tmp_path: object) -> None:
    # Four arrays of 16 MiB: each is a group of its own, read by its own orbax call (when
    # a call reading several arrays fails, orbax leaves its other reads pending, and they
    # report a closed event loop whenever they finish: noise the test would pick up).
    path = f"{tmp_path}/ckpt"
    save(path, Big(1, arrays=4, size=2**22))
    files = [os.path.join(folder, f) for folder, _, names in os.walk(path) for f in names]
    data = max(files, key=os.path.getsize)
    os.truncate(data, os.path.getsize(data) // 2)  # some arrays read, later ones do not
    model = Big(2, arrays=4, size=2**22)
    before = [w.value for w in model.weights]
    with pytest.raises(CheckpointError, match=r"could not be read(.|\n)*Fix:") as error:
        restore(path, model)
    changed = [
        f"model.weights[{i}]" for i, w in enumerate(model.weights) if w.value is not before[i]
    ]
    if changed:  # which arrays sit in the lost half depends on orbax's write order
        names = ", ".join(changed)
        assert f"{len(changed)} Variable(s) read before it were restored ({names})" in str(
            error.value
        )
    else:
        assert "nothing was changed" in str(error.value)
