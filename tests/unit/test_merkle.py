"""RFC 9162 Merkle maths: reference vectors, and Hypothesis properties over sizes 1..2000 (every
proof verifies; every 1-bit change of leaf, proof, root, leaf index or first size fails)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors_loader import load
from tierspayant.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    list_hasher,
    root_of,
    verify_consistency,
    verify_inclusion,
)

V = load("rfc9162_merkle.json")
LEAVES = [leaf_hash(bytes.fromhex(e)) for e in V["entries"]]
BIG = [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(2000)]


def h(x: str) -> bytes:
    return bytes.fromhex(x)


def test_reference_roots() -> None:
    assert root_of([]) == EMPTY_ROOT == h(V["roots"][0])
    for size in range(1, 9):
        assert root_of(LEAVES[:size]).hex() == V["roots"][size]


def test_reference_inclusion_proofs() -> None:
    for case in V["inclusion"]:
        proof = inclusion_proof(list_hasher(LEAVES), case["index"], case["size"])
        assert [p.hex() for p in proof] == case["proof"]
        assert verify_inclusion(LEAVES[case["index"]], case["index"], case["size"], proof, h(V["roots"][case["size"]]))


def test_reference_consistency_proofs() -> None:
    for case in V["consistency"]:
        proof = consistency_proof(list_hasher(LEAVES), case["first"], case["second"])
        assert [p.hex() for p in proof] == case["proof"]
        assert verify_consistency(case["first"], case["second"], h(V["roots"][case["first"]]),
                                  h(V["roots"][case["second"]]), proof)


def test_every_proof_verifies_for_small_trees() -> None:
    for size in range(1, 40):
        root = root_of(BIG[:size])
        for index in range(size):
            assert verify_inclusion(BIG[index], index, size, inclusion_proof(list_hasher(BIG), index, size), root)
        for first in range(size + 1):
            proof = consistency_proof(list_hasher(BIG), first, size)
            assert verify_consistency(first, size, root_of(BIG[:first]), root, proof)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.data())
def test_inclusion_proofs_verify_and_any_bit_flip_fails(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    hasher = list_hasher(BIG[:size])
    root = root_of(BIG[:size])
    proof = inclusion_proof(hasher, index, size)
    assert verify_inclusion(BIG[index], index, size, proof, root)
    bit = data.draw(st.integers(0, 255))
    assert not verify_inclusion(flip(BIG[index], bit), index, size, proof, root)
    assert not verify_inclusion(BIG[index], index, size, proof, flip(root, bit))
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = flip(bad[which], bit)
        assert not verify_inclusion(BIG[index], index, size, bad, root)
        assert not verify_inclusion(BIG[index], index, size, proof[:-1], root)
    # The tree size is bound to its root by the signed checkpoint (tested with checkpoints): a
    # bare RFC 9162 path for a left-edge leaf can verify under two sizes of equal depth.
    other_index = index ^ (1 << data.draw(st.integers(0, 11)))
    if other_index != index and other_index < size:
        assert not verify_inclusion(BIG[index], other_index, size, proof, root)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.data())
def test_consistency_proofs_verify_and_any_bit_flip_fails(second: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(1, second))
    hasher = list_hasher(BIG[:second])
    first_root, second_root = root_of(BIG[:first]), root_of(BIG[:second])
    proof = consistency_proof(hasher, first, second)
    assert verify_consistency(first, second, first_root, second_root, proof)
    bit = data.draw(st.integers(0, 255))
    assert not verify_consistency(first, second, flip(first_root, bit), second_root, proof)
    assert not verify_consistency(first, second, first_root, flip(second_root, bit), proof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = flip(bad[which], bit)
        assert not verify_consistency(first, second, first_root, second_root, bad)
    if first < second:
        other_first = first ^ (1 << data.draw(st.integers(0, 11)))
        if 0 < other_first < second:
            assert not verify_consistency(other_first, second, first_root, second_root, proof)
