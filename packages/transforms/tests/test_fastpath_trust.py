"""The fast path's guarantees: never stale, never leaking, never writing tracers.

One test (or a parametrised family) per case of the fast-path review: each fails when
the guarantee it names is broken, and compares against eager execution or a fresh walk.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

from nnx_graph import (
    Module,
    StaleCacheError,
    TraceContextError,
    Variable,
    check_fast_path,
    split,
    state,
    update,
)
from nnx_transforms import grad, jit, remat, vmap
from nnx_variables import Cache, Param


class Weights(Module):
    def __init__(self, n: int = 2) -> None:
        self.w = Param(jnp.zeros(n))


@jit
def bump(m: Weights, x: jax.Array) -> jax.Array:
    m.w.value = m.w.value + x
    return m.w.value.sum()


# -- 1. an nnx transform inside an outer JAX transform never writes tracers -----------


def _outer_calls() -> dict[str, Callable[[Weights], Any]]:
    ones = jnp.ones(2)
    return {
        "fori_loop": lambda m: jax.lax.fori_loop(0, 3, lambda i, c: c + bump(m, ones), 0.0),
        "scan": lambda m: jax.lax.scan(lambda c, _: (c + bump(m, ones), None), 0.0, None, 2),
        "jax.jit": lambda m: jax.jit(lambda x: bump(m, x))(ones),
        "jax.grad": lambda m: jax.grad(lambda x: bump(m, x))(ones),
        "jax.vmap": lambda m: jax.vmap(lambda x: bump(m, x))(jnp.ones((3, 2))),
        "checkify": lambda m: checkify.checkify(jax.jit(lambda x: bump(m, x)))(ones),
        "outer nnx.jit": lambda m: jit(lambda x: bump(m, x))(ones),
    }


def _mutate_with(transform: str) -> Callable[[Weights], Any]:
    def mutate(m: Weights) -> jax.Array:
        m.w.value = m.w.value + 1.0
        return m.w.value.sum()

    if transform == "grad":
        return lambda m: grad(lambda m: mutate(m))(m)
    if transform == "vmap":
        return lambda m: vmap(lambda m, x: mutate(m) + x, in_axes=(None, 0))(m, jnp.ones(3))
    if transform == "remat":
        return lambda m: remat(mutate)(m)
    return lambda m: jit(mutate)(m)


@pytest.mark.parametrize("outer", sorted(_outer_calls()))
def test_inner_jit_refuses_to_write_tracers_into_a_captured_model(outer: str) -> None:
    m = Weights()
    bump(m, jnp.ones(2))  # cached first, as in a real loop
    before = m.w.value
    with pytest.raises(TraceContextError, match=r"args\[0\]\.w(.|\n)*pass the model"):
        _outer_calls()[outer](m)
    assert m.w.value is before  # unchanged, and no tracer inside
    assert float(bump(m, jnp.ones(2))) == 4.0  # the next plain call works


@pytest.mark.parametrize("inner", ["jit", "grad", "vmap", "remat"])
def test_every_nnx_transform_checks_its_write_back(inner: str) -> None:
    m = Weights()
    before = m.w.value
    with pytest.raises(TraceContextError, match=r"args\[0\]\.w"):
        jax.jit(lambda x: _mutate_with(inner)(m) * x)(1.0)
    assert m.w.value is before


def test_a_model_passed_into_the_outer_transform_is_updated() -> None:
    m = Weights()

    @jit
    def twice(m: Weights) -> jax.Array:
        return bump(m, jnp.ones(2)) + grad(lambda m: bump(m, jnp.ones(2)))(m).w.value.sum()

    twice(m)
    np.testing.assert_allclose(m.w.value, [2.0, 2.0])


def test_reading_a_captured_model_inside_an_outer_transform_is_fine() -> None:
    m = Weights()
    read = jit(lambda m, x: m.w.value.sum() + x)
    total = jax.lax.fori_loop(0, 3, lambda i, c: c + read(m, 1.0), 0.0)
    assert float(total) == 3.0


# -- 2. pytree containers are read and written by key ---------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Pair:
    a: jax.Array
    b: jax.Array


class Holder(Module):
    def __init__(self, box: Any) -> None:
        self.box = box


def _boxes() -> dict[str, Callable[[], Any]]:
    def defaultdict() -> Any:
        d: collections.defaultdict[int, Any] = collections.defaultdict(float)
        d[7], d[5] = jnp.array(1.0), jnp.array(2.0)
        return d

    return {
        "OrderedDict int keys": lambda: collections.OrderedDict(
            [(1, jnp.array(1.0)), (0, jnp.array(2.0))]
        ),
        "OrderedDict str keys": lambda: collections.OrderedDict(
            [("b", jnp.array(1.0)), ("a", jnp.array(2.0))]
        ),
        "defaultdict": defaultdict,
        "dataclass": lambda: Pair(jnp.array(1.0), jnp.array(2.0)),
    }


def _items(box: Any) -> list[tuple[Any, float]]:
    if isinstance(box, Pair):
        return [("a", float(box.a)), ("b", float(box.b))]
    return [(k, float(v)) for k, v in box.items()]


@pytest.mark.parametrize("kind", sorted(_boxes()))
def test_pytree_containers_round_trip_through_jit_and_split(kind: str) -> None:
    holder = Holder(_boxes()[kind]())
    expected = _items(holder.box)

    @jit
    def double(holder: Holder) -> jax.Array:
        if isinstance(holder.box, Pair):
            holder.box = Pair(holder.box.a * 2, holder.box.b * 2)
        else:
            for k in list(holder.box):
                holder.box[k] = holder.box[k] * 2
        return sum(v for _, v in _items_traced(holder.box))

    reader = jit(lambda holder: [v for _, v in _items_traced(holder.box)])
    keys = [k for k, _ in _items_traced(holder.box)]  # as jax orders them (sorted keys
    # for a defaultdict), the same inside and outside the trace
    for _ in range(3):  # reads never reorder, whatever the cache does
        values = [float(v) for v in reader(holder)]
        assert dict(zip(keys, values, strict=True)) == dict(expected)
        assert _flat_state(holder) == dict(expected)
    for step in range(1, 3):
        double(holder)
        assert _items(holder.box) == [(k, v * 2**step) for k, v in expected]
        assert _flat_state(holder) == dict(_items(holder.box))


def _items_traced(box: Any) -> list[tuple[Any, Any]]:
    if isinstance(box, Pair):
        return [("a", box.a), ("b", box.b)]
    return [(p[0].key, v) for p, v in jax.tree_util.tree_flatten_with_path(box)[0]]


def _flat_state(holder: Holder) -> dict[Any, float]:
    _, st = split(holder)
    return {path[-1]: float(v) for path, v in st.flat_dict().items()}


# -- 3. metadata changed through the public API is seen -------------------------------


def _set_metadata_by_update(m: Weights) -> None:
    st = state(m)
    st["w"] = st["w"].replace(frozen=2.0)
    update(m, st)


def _set_metadata_by_state(m: Weights) -> None:
    m.w.update_from_state(m.w.to_state().replace(frozen=2.0))


def _set_metadata_by_copy(m: Weights) -> None:
    m.w.copy_from(Param(m.w.value, frozen=2.0))


def _set_metadata_by_attribute(m: Weights) -> None:
    m.w.frozen = 2.0


@pytest.mark.parametrize(
    "route",
    [
        _set_metadata_by_update,
        _set_metadata_by_state,
        _set_metadata_by_copy,
        _set_metadata_by_attribute,
    ],
)
def test_metadata_changes_reach_cached_jit_and_split(route: Callable[[Weights], None]) -> None:
    m = Weights()
    m.w.frozen = 1.0
    read = jit(lambda m: jnp.asarray(m.w.frozen))
    assert float(read(m)) == 1.0
    assert split(m)[0] == split(m)[0]
    route(m)
    assert float(read(m)) == 2.0
    graphdef, _ = split(m)
    assert graphdef == split(weights_with(frozen=2.0))[0]


def weights_with(**metadata: Any) -> Weights:
    m = Weights()
    m.w = Param(jnp.zeros(2), **metadata)
    return m


def test_rekinding_a_variable_is_seen_by_filters() -> None:
    class Frozen(Param):
        pass

    m = Weights()
    count = jit(lambda m: jnp.asarray(len(state(m, Frozen))))
    assert int(count(m)) == 0
    m.w.__class__ = Frozen
    assert int(count(m)) == 1
    assert list(split(m, Frozen, ...)[1]) == ["w"]


# -- 4. a Variable holding a mutable container -----------------------------------------


def test_writes_into_a_variable_holding_a_dict_are_kept() -> None:
    class KV(Module):
        def __init__(self) -> None:
            self.cache = Cache({"k": jnp.zeros(2), "v": jnp.zeros(2)})

    @jit
    def write(kv: KV, x: jax.Array) -> None:
        kv.cache.value["k"] = x

    kv = KV()
    for step in range(1, 4):
        write(kv, jnp.full(2, float(step)))
        np.testing.assert_allclose(kv.cache.value["k"], [step, step])
        np.testing.assert_allclose(kv.cache.value["v"], [0.0, 0.0])


# -- 5. edits that bypass attribute assignment: caught in check mode ------------------


def _bypasses() -> dict[str, Callable[[Module], None]]:
    return {
        "object.__setattr__": lambda m: object.__setattr__(m, "w", Param(jnp.ones(2))),
        "__dict__ item": lambda m: m.__dict__.__setitem__("flag", True),
        "vars().update": lambda m: vars(m).update(extra=Param(jnp.ones(1))),
        "del __dict__ item": lambda m: m.__dict__.__delitem__("w"),
    }


@pytest.mark.parametrize("bypass", sorted(_bypasses()))
def test_check_mode_names_edits_that_bypass_setattr(bypass: str) -> None:
    m = Weights()
    read = jit(lambda m: sum(v.sum() for v in jax.tree.leaves(state(m))))
    with check_fast_path():
        read(m)
        split(m)
        _bypasses()[bypass](m)
        with pytest.raises(StaleCacheError, match=r"(?s)nnx.jit.*Weights.*model\.x = \.\.\."):
            read(m)
        with pytest.raises(StaleCacheError, match=r"nnx\.split"):
            split(m)


def test_check_mode_passes_on_ordinary_edits() -> None:
    m = Weights()
    read = jit(lambda m: m.w.value.sum())
    with check_fast_path():
        for _ in range(2):
            read(m)
            read(m)
            split(m)
            split(m)
            m.w = Param(jnp.ones(2))
            m.extra = [Param(jnp.ones(1))]
            m.extra.append(Param(jnp.ones(1)))
            del m.extra
        assert read.cache_info().hits >= 1


# -- 6. threads ------------------------------------------------------------------------


class Flagged(Module):
    def __init__(self) -> None:
        self.w = Param(jnp.ones(2))
        self.flag = False
        self.layers = [Weights() for _ in range(30)]  # a walk long enough to interrupt


@pytest.fixture
def eager_thread_switches() -> Any:
    """Switch threads every 10 µs (default 5 ms), so that a walk gets interrupted mid-way."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


class EditDuringWalk:
    """A static attribute whose hashing (the walk checks statics are hashable) edits the
    model once: an edit landing mid-walk, as another thread's would, deterministically."""

    def __init__(self, model: Flagged) -> None:
        self.model = model
        self.armed = False

    def __hash__(self) -> int:
        if self.armed:
            self.armed = False
            self.model.flag = not self.model.flag  # after the walk has read ``flag``
        return 0

    def __eq__(self, other: object) -> bool:
        return other is self


def test_an_edit_during_a_walk_never_leaves_a_stale_entry() -> None:
    read = jit(lambda m: m.w.value.sum() * (2.0 if m.flag else 1.0))
    m = Flagged()
    m.z_hook = EditDuringWalk(m)  # sorted after ``flag``: walked once flag was read
    read(m)
    m.flag = True  # the next call walks again...
    m.z_hook.armed = True  # ...and the walk flips the flag back half-way through
    read(m)
    assert m.flag is False
    assert float(read(m)) == 2.0  # no further edit: the cache must not hold flag=True


@pytest.mark.usefixtures("eager_thread_switches")
def test_structural_edits_from_another_thread() -> None:
    read = jit(lambda m: m.w.value.sum() * (2.0 if m.flag else 1.0))
    for trial in range(10):
        m = Flagged()
        read(m)
        done = threading.Event()

        def toggle(m: Flagged = m, done: threading.Event = done) -> None:
            for _ in range(50):
                m.flag = not m.flag
            done.set()

        thread = threading.Thread(target=toggle)
        thread.start()
        while not done.is_set():  # walks (every edit invalidates) racing the edits
            read(m)
        thread.join()
        assert float(read(m)) == (4.0 if m.flag else 2.0), f"trial {trial}"


def test_calls_from_several_threads_on_their_own_models() -> None:
    results: dict[int, float] = {}

    def train(i: int) -> None:
        m = Weights()
        for _ in range(20):
            bump(m, jnp.full(2, float(i)))
        results[i] = float(m.w.value.sum())

    threads = [threading.Thread(target=train, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: 40.0 * i for i in range(4)}


# -- 7. memory: entries die with their objects and hold no values ---------------------


SHAPE = (131, 17)  # unusual, so live arrays of this test are recognisable
BATCH = (7, 131)


def _live(shape: tuple[int, ...]) -> int:
    gc.collect()  # garbage cycles of earlier tests may hold arrays until collected
    return sum(1 for a in jax.live_arrays() if a.shape == shape)


class Big(Module):
    def __init__(self) -> None:
        self.kernel = Param(jnp.ones(SHAPE))
        self.count = Variable(jnp.array(0))


@pytest.mark.parametrize("fail_last", [False, True])
def test_nothing_of_a_dropped_model_stays_alive(fail_last: bool) -> None:
    gc.collect()
    live_before = _live(SHAPE)

    def train(model: Big, x: jax.Array) -> jax.Array:
        model.kernel.value = model.kernel.value * 0.5
        model.count.value = model.count.value + 1
        return (x @ model.kernel.value).sum()

    def failing(model: Big, x: jax.Array) -> jax.Array:
        train(model, x)
        raise ValueError("the step failed")

    step = jit(train)

    model = Big()
    for _ in range(3):
        step(model, jnp.ones(BATCH))
    assert _live(SHAPE) == live_before + 1  # the kernel now, no first-call copy
    assert _live(BATCH) == 0  # no batch kept
    if fail_last:
        with pytest.raises(ValueError, match="the step failed"):
            jit(failing)(model, jnp.ones(BATCH))
    split(model)
    refs = [weakref.ref(model), weakref.ref(model.kernel)]
    del model
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    assert _live(SHAPE) == live_before


def test_an_optimizer_like_second_root_is_not_kept_by_the_first() -> None:
    @jit
    def step(model: Weights, other: Weights) -> None:
        model.w.value = model.w.value + other.w.value

    model, other = Weights(), Weights()
    step(model, other)
    step(model, other)
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None
    step(model, Weights())  # a new partner: a fresh walk, still correct
    assert step.cache_info().misses == 2


def test_a_detached_submodule_is_released_at_once() -> None:
    class Outer(Module):
        def __init__(self) -> None:
            self.inner = Big()

    read = jit(lambda m: m.inner.kernel.value.sum())
    outer = Outer()
    read(outer)
    ref = weakref.ref(outer.inner)
    outer.inner = None
    gc.collect()
    assert ref() is None


# -- 8. many objects through one function keep hitting --------------------------------


def test_a_loop_over_many_layers_hits_for_each() -> None:
    step = jit(bump.fun)
    layers = [Weights() for _ in range(12)]
    for _ in range(3):
        for layer in layers:
            step(layer, jnp.ones(2))
    assert step.cache_info() == (24, 12)  # one walk per layer, then hits
    for layer in layers:
        np.testing.assert_allclose(layer.w.value, [3.0, 3.0])


# -- 9. re-created models reuse the compiled step -------------------------------------


class Transformation(NamedTuple):
    init: Callable[..., Any]
    update: Callable[..., Any]


def adam_like(learning_rate: float) -> Transformation:
    """New closures on every call, built the way optax builds ``optax.adam(1e-3)``."""

    def init(params: Any) -> Any:
        return jax.tree.map(jnp.zeros_like, params)

    def update(grads: Any, state: Any) -> Any:
        return jax.tree.map(lambda g: -learning_rate * g, grads), state

    return Transformation(init, update)


def test_equal_closures_and_own_methods_do_not_retrace() -> None:
    traces = []

    class WithFunctions(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.ones(2))
            self.tx = adam_like(1e-3)  # new closures each time, as optax.adam(1e-3)
            self.act = self.scale  # a method of the model itself

        def scale(self, x: jax.Array) -> jax.Array:
            return x * self.w.value

    @jit
    def step(m: WithFunctions) -> jax.Array:
        traces.append(1)
        return m.act(jnp.ones(2)).sum()

    for _ in range(4):
        m = WithFunctions()
        assert float(step(m)) == 2.0
        m.w.value = jnp.ones(2) * 3.0
        assert float(step(m)) == 6.0  # the method is bound to the traced copy
    assert len(traces) == 1


def test_closures_that_differ_do_not_share_a_trace() -> None:
    def scaler(factor: float) -> Callable[[jax.Array], jax.Array]:
        return lambda x: x * factor

    class Scaled(Module):
        def __init__(self, factor: float) -> None:
            self.w = Param(jnp.ones(2))
            self.fn = scaler(factor)

    apply = jit(lambda m: m.fn(m.w.value).sum())
    assert [float(apply(Scaled(f))) for f in (1.0, 2.0, 2.0, -0.0)] == [2.0, 4.0, 4.0, -0.0]


# -- 10. an interrupt during the write-back -------------------------------------------


class Interrupting(dict):  # type: ignore[type-arg]
    """A dict whose first item write raises KeyboardInterrupt, as a Ctrl-C would."""

    armed = False

    def __setitem__(self, key: Any, value: Any) -> None:
        if Interrupting.armed:
            Interrupting.armed = False
            raise KeyboardInterrupt
        super().__setitem__(key, value)


jax.tree_util.register_pytree_with_keys(
    Interrupting,
    lambda d: ([(jax.tree_util.DictKey(k), d[k]) for k in sorted(d)], tuple(sorted(d))),
    lambda keys, values: Interrupting(zip(keys, values, strict=True)),
)


def test_an_interrupted_write_back_is_finished_not_half_done() -> None:
    holder = Holder(Interrupting(a=jnp.zeros(1), b=jnp.zeros(1)))
    holder.w = Param(jnp.zeros(1))

    @jit
    def step(holder: Holder) -> None:
        holder.w.value = holder.w.value + 1
        for k in ("a", "b"):
            holder.box[k] = holder.box[k] + 1

    step(holder)
    Interrupting.armed = True
    with pytest.raises(KeyboardInterrupt):
        step(holder)
    values = [float(holder.w.value[0]), float(holder.box["a"][0]), float(holder.box["b"][0])]
    assert values == [2.0, 2.0, 2.0]


def test_a_read_only_step_over_an_unwritable_graph_keeps_hitting() -> None:
    class WithTuple(Module):
        def __init__(self) -> None:
            self.pair = (jnp.ones(2), jnp.zeros(2))  # bare arrays in a tuple: not writable

    read = jit(lambda m: m.pair[0].sum())
    m = WithTuple()
    for _ in range(4):
        assert float(read(m)) == 2.0
    assert read.cache_info() == (3, 1)
