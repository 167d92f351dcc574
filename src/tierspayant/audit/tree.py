"""The log's tree over stored hashes: which perfect subtrees a new size completes, and the hash
of any range from stored subtrees in O(log n) lookups (RFC 9162 §2.1.1 structure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tierspayant.audit.merkle import EMPTY_ROOT, node_hash

#: (level, idx) -> hash of the perfect subtree of 2**level leaves starting at idx * 2**level.
NodeGetter = Callable[[Sequence[tuple[int, int]]], dict[tuple[int, int], bytes]]


def completed_nodes(old_size: int, new_size: int, leaves: Sequence[bytes], leaves_from: int,
                    stored: NodeGetter) -> list[tuple[int, int, bytes]]:
    """Perfect subtrees (level >= 1) complete at ``new_size`` but not at ``old_size``.

    ``leaves`` are the leaf hashes from index ``leaves_from`` (at most ``old_size`` rounded
    down to even) to ``new_size``; older subtrees come from ``stored``."""
    made: dict[tuple[int, int], bytes] = {}
    # The subtrees complete before (the left edges of the new ones), fetched in one call.
    wanted = []
    level = 1
    while (1 << level) <= new_size:
        for idx in range(old_size >> level, new_size >> level):
            wanted += [(level - 1, i) for i in (2 * idx, 2 * idx + 1) if level > 1 and (i + 1) << (level - 1) <= old_size]
        level += 1
    if wanted:
        made.update(stored(wanted))

    def child(level: int, idx: int) -> bytes:
        if level == 0:
            return leaves[idx - leaves_from]
        key = (level, idx)
        if key not in made:
            made.update(stored([key]))
        return made[key]

    level = 1
    while (1 << level) <= new_size:
        for idx in range(old_size >> level, new_size >> level):
            made[(level, idx)] = node_hash(child(level - 1, 2 * idx), child(level - 1, 2 * idx + 1))
        level += 1
    return [(lvl, idx, value) for (lvl, idx), value in sorted(made.items())
            if (idx + 1) << lvl > old_size]


def pieces(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as aligned perfect subtrees (level, idx), largest first."""
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def range_hash(start: int, end: int, leaf: Callable[[int], bytes], stored: NodeGetter) -> bytes:
    """MTH(D[start:end]) for the ranges proofs use (aligned subtrees), from stored hashes."""
    if start == end:
        return EMPTY_ROOT
    parts = pieces(start, end)
    nodes = stored([(lvl, idx) for lvl, idx in parts if lvl > 0])
    hashes = [leaf(idx) if lvl == 0 else nodes[(lvl, idx)] for lvl, idx in parts]
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value
