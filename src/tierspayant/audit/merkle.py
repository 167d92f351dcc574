"""Merkle tree maths of RFC 9162 (Certificate Transparency v2), section 2.1. Pure functions.

A tree is given by its leaf hashes (``leaf_hash(entry)``). ``RangeHasher`` abstracts where
subtree hashes come from, so that the same proof algorithms run over a list in memory (tests,
the verifier) or over stored subtree hashes (the log).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tierspayant.security.digests import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"")  # MTH({}) = HASH() (RFC 9162 §2.1.1)

#: Hash of the subtree covering leaves [start, end) of the tree.
RangeHasher = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d0}) = HASH(0x00 || d0) (RFC 9162 §2.1.1)."""
    return sha256(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (RFC 9162 §2.1.1)."""
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class IncrementalRoot:
    """MTH of a growing list of leaves in O(log n) memory: a stack of perfect subtrees."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (size, hash), sizes decreasing

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> IncrementalRoot:
        """The tree of ``size`` leaves from its frontier: the hashes of its perfect subtrees,
        largest first (one per bit set in ``size``, RFC 9162 §2.1.1's left subtrees): how a
        verifier goes on from leaves it no longer holds (an archived prefix)."""
        sizes = [1 << bit for bit in reversed(range(size.bit_length())) if size >> bit & 1]
        if len(sizes) != len(frontier):
            raise ValueError("a frontier has one hash per bit set in the size")
        tree = cls()
        tree.size, tree._stack = size, list(zip(sizes, frontier, strict=True))
        return tree

    def add(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, value = left_size + size, node_hash(left, value)
        self._stack.append((size, value))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of leaf hashes."""
    tree = IncrementalRoot()
    for leaf in leaves:
        tree.add(leaf)
    return tree.root()


def list_hasher(leaves: Sequence[bytes]) -> RangeHasher:
    """A RangeHasher over leaf hashes held in memory."""
    return lambda start, end: root_of(leaves[start:end])


def inclusion_proof(hasher: RangeHasher, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            proof.append(hasher(start + k, end))
            end = start + k
        else:
            proof.append(hasher(start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(hasher: RangeHasher, first: int, second: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1); empty when m is 0 or m = n."""
    if not 0 <= first <= second:
        raise ValueError("sizes out of order")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(hasher(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(hasher(start + k, end))
            end = start + k
        else:
            proof.append(hasher(start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


def _to_right_child(fn: int, sn: int) -> tuple[int, int]:
    """RFC 9162 §2.1.3.2 and §2.1.4.2, a step both verifications share: "right-shift both fn and
    sn equally until either LSB(fn) is set or fn is 0"."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _to_right_child(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (with its two trivial cases: an empty first tree, equal sizes)."""
    if not 0 <= first <= second or len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _to_right_child(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
