"""nnx.graph, nnx.traversals and nnx.ids: flax's namespaces over our names."""

import jax.numpy as jnp
import pytest

import nnx


class Block(nnx.Module):
    def __init__(self):
        self.a = nnx.Param(jnp.ones(2))
        self.tied = self.a


def test_graph_flatten_and_unflatten_round_trip_with_sharing():
    block = Block()
    graphdef, flat = nnx.graph.flatten(block)
    assert isinstance(flat, nnx.FlatState) and flat.paths == (("a",),)
    rebuilt = nnx.graph.unflatten(graphdef, flat)
    assert rebuilt.tied is rebuilt.a
    graphdef, leaves = nnx.graph.flatten(block, with_paths=False)
    assert len(leaves) == 1
    assert isinstance(nnx.graph.unflatten(graphdef, leaves), Block)


def test_ref_map_keys_by_identity():
    a, b = Block(), Block()
    refs = nnx.graph.RefMap()
    refs[a.a] = "a"
    assert a.a in refs and b.a not in refs and refs[a.a] == "a"
    assert list(refs) == [a.a] and len(refs) == 1
    del refs[a.a]
    assert not refs


def test_traversals_flatten_and_unflatten_mappings():
    nested = {"a": {"b": 1, "c": {}}, "d": 2}
    flat = nnx.traversals.flatten_mapping(nested)
    assert flat == {("a", "b"): 1, ("d",): 2}
    kept = nnx.traversals.flatten_mapping(nested, keep_empty_nodes=True, sep="/")
    assert kept["a/c"] is nnx.traversals.empty_node
    assert nnx.traversals.unflatten_mapping(kept, sep="/") == nested
    state_dict = nnx.state(Block()).to_pure_dict()
    assert set(nnx.traversals.flatten_mapping(state_dict)) == {("a",)}


def test_ids_are_unique_and_ordered():
    first, second = nnx.ids.uuid(), nnx.ids.uuid()
    assert first != second and first < second and len({first, second}) == 2


def test_compat_keeps_graph_mode_inside_tree_mode():
    class Tied(nnx.Module):
        def __init__(self):
            self.a = nnx.Param(jnp.ones(2))
            self.b = self.a  # shared: tree mode refuses it

    model = Tied()
    with nnx.set_graph_mode(False):
        graphdef, state = nnx.compat.split(model)
        step = nnx.compat.jit(lambda m: m.a.value.sum())
        assert float(step(model)) == 2.0
    rebuilt = nnx.merge(graphdef, state)
    assert rebuilt.a is rebuilt.b
    with nnx.set_graph_mode(False), pytest.raises(ValueError, match="shared"):
        nnx.split(model)  # what compat protects against
