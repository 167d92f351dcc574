"""The stored tree (audit/tree.py): subtrees of 64 leaves and more stored, smaller ones
recomputed from leaves; grown in steps as checkpoints and catch-ups do; leaves archived below a
cut with the kept nodes. Every root equals RFC 9162's MTH, every proof verifies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierspayant.audit.merkle import (
    IncrementalRoot,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from tierspayant.audit.tree import BLOCK, FLOOR, MissingHash, Subtrees, completed_nodes, kept_nodes, pieces

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(2000)]


class Store:
    """Stored nodes and the leaves still held, as the SQL store keeps them."""

    def __init__(self, size: int, cut: int = 0) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size, self.cut = size, cut

    def stored(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys if k in self.nodes}

    def leaves(self, start: int, end: int) -> dict[int, bytes]:
        return {i: LEAVES[i] for i in range(max(start, self.cut), min(end, self.size))}

    def tree(self) -> Subtrees:
        return Subtrees(self.stored, self.leaves)

    def grow(self, old: int, new: int) -> bytes:
        """One checkpoint (or catch-up step) from ``old`` to ``new``: the service's _extend."""
        self.size = max(self.size, new)
        tree = self.tree()
        start = (old >> FLOOR) << FLOOR
        tree.know_leaves(start, LEAVES[start:new], to_end=new == self.size)
        made = completed_nodes(old, new, tree)
        assert all(level >= FLOOR for level, _, _ in made)
        self.nodes.update({(level, idx): value for level, idx, value in made})
        return tree.range_hash(0, new)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6))
def test_grown_in_steps_every_root_and_proof_holds(steps: list[int]) -> None:
    store, size, sizes = Store(0), 0, []
    for step in steps:
        root = store.grow(size, size + step)
        size += step
        sizes.append(size)
        assert root == root_of(LEAVES[:size])
    # Only subtrees of 64 leaves and more are stored, every one complete at the last size.
    assert set(store.nodes) == {(lvl, idx) for lvl in range(FLOOR, size.bit_length()) for idx in range(size >> lvl)}
    hasher = store.tree().range_hash
    for index in {0, size // 2, size - 1}:
        assert verify_inclusion(LEAVES[index], index, size, inclusion_proof(hasher, index, size), root_of(LEAVES[:size]))
    for first in sizes:
        proof = consistency_proof(hasher, first, size)
        assert verify_consistency(first, size, root_of(LEAVES[:first]), root_of(LEAVES[:size]), proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=BLOCK + 1, max_value=1100), st.integers(min_value=1, max_value=4),
       st.integers(min_value=0, max_value=100))
def test_caught_up_in_steps_as_signed_at_once(size: int, blocks: int, signed: int) -> None:
    at_once, steps = Store(size), Store(size)
    at_once.grow(0, size)
    hashed = min(signed, size)  # a checkpoint signed before the bulk of the log came
    steps.grow(0, hashed)
    step = blocks * BLOCK
    while size - hashed > step:  # services/audit.py checkpoint: committed steps ending on a block
        aligned = ((hashed + step) >> FLOOR) << FLOOR
        steps.grow(hashed, aligned)
        hashed = aligned
    assert steps.grow(hashed, size) == root_of(LEAVES[:size])
    assert steps.nodes == at_once.nodes


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_archived_below_a_cut_what_remains_is_provable(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=3 * BLOCK, max_value=1100))
    cut = data.draw(st.integers(min_value=1, max_value=size - BLOCK))
    signed = sorted(set(data.draw(st.lists(st.integers(min_value=1, max_value=size), min_size=1, max_size=8))) | {size})
    kept_sizes = [s for s in signed if s <= cut][-1:]  # the last checkpoint before the cut
    store = Store(size)
    previous = 0
    for s in signed:
        store.grow(previous, s)
        previous = s
    store.nodes.update({(lvl, idx): v for lvl, idx, v in kept_nodes(cut, kept_sizes, store.tree())})
    store.cut = cut  # the leaves [0, cut) leave the database
    root = root_of(LEAVES[:size])
    hasher = store.tree().range_hash
    for index in range(cut, size, 7):
        assert verify_inclusion(LEAVES[index], index, size, inclusion_proof(hasher, index, size), root)
    for first in [*kept_sizes, *(s for s in signed if s >= cut)]:
        assert verify_consistency(first, size, root_of(LEAVES[:first]), root, consistency_proof(hasher, first, size))
    # The verifier starts from the archived leaves' frontier and reaches the same roots.
    tree = store.tree()
    resumed = IncrementalRoot.resume(cut, [tree.node(lvl, idx) for lvl, idx in pieces(0, cut)])
    for leaf in LEAVES[cut:size]:
        resumed.add(leaf)
    assert resumed.root() == root
    # The next checkpoint grows from the last one's block, which lies after the cut.
    if (signed[-1] >> FLOOR) << FLOOR >= cut:
        store.size = size + 50
        assert store.grow(size, size + 50) == root_of(LEAVES[:size + 50])


def test_an_archived_event_has_no_proof() -> None:
    store = Store(600)
    store.grow(0, 600)
    store.cut = 300
    with pytest.raises(MissingHash):
        inclusion_proof(store.tree().range_hash, 10, 600)
