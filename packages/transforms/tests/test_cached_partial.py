"""nnx.cached_partial: flax's contract (bound objects updated per call) over the fast path."""

import jax.numpy as jnp
import pytest

import nnx_graph as ng
import nnx_transforms as nt


class Counter(ng.Module):
    def __init__(self):
        self.count = ng.Variable(jnp.array(0))


def test_bound_objects_are_updated_and_edits_between_calls_are_seen():
    counter = Counter()
    traces = []

    @nt.jit
    def step(counter, k):
        traces.append(1)
        counter.count.value += k
        return counter.count.value

    bound = nt.cached_partial(step, counter)
    assert int(bound(2)) == 2 and int(bound(3)) == 5
    assert int(counter.count.value) == 5 and len(traces) == 1
    assert step.cache_info().hits >= 1
    counter.extra = ng.Variable(jnp.array(1))  # a structure edit: walked again, not stale
    assert int(bound(1)) == 6
    assert len(traces) == 2


@pytest.mark.parametrize(
    "modes", [{"graph": False}, {"graph_updates": False}, {"graph": False, "graph_updates": True}]
)
def test_tree_mode_or_no_graph_updates_is_refused_pointing_to_jit_partial(modes):
    step = nt.jit(lambda counter, k: None)
    with pytest.raises(
        ValueError, match=r"(?s)nnx\.cached_partial works in graph mode.*jit_partial"
    ):
        nt.cached_partial(step, Counter(), **modes)
    with ng.set_graph_updates(False), pytest.raises(ValueError, match="cached_partial"):
        nt.cached_partial(step, Counter())
    assert nt.cached_partial(step, Counter(), graph=True, graph_updates=True).args
