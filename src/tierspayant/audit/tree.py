"""The log's tree over stored hashes (RFC 9162 §2.1.1 structure): which perfect subtrees a new
size completes, and the hash of any aligned range from stored subtrees.

What is stored: every perfect subtree of ``2**FLOOR`` leaves or more (level >= FLOOR) complete at
the last checkpoint or catch-up step, about n / 2**(FLOOR-1) rows for n leaves (every level
from 1 was n rows: 14 GB at 100 M events, bench/SCALE-RESULTS.md). A smaller subtree is
recomputed from its block's leaf hashes (one range read of at most 2**FLOOR events), or read
from the nodes kept when that block's leaves were archived (``kept_nodes``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tierspayant.audit.merkle import EMPTY_ROOT, node_hash

#: Subtrees of 2**FLOOR = 64 leaves and more are stored; a block of 64 leaves is one read.
FLOOR = 6
BLOCK = 1 << FLOOR

Key = tuple[int, int]
#: (level, idx) -> hash of the perfect subtree of 2**level leaves starting at idx * 2**level.
NodeGetter = Callable[[Sequence[Key]], dict[Key, bytes]]
#: The leaf hashes of the events start <= seq < end still in the log, by seq (archived ones absent).
LeafGetter = Callable[[int, int], dict[int, bytes]]


class MissingHash(LookupError):
    """A subtree hash cannot be had: not stored, and its leaves are archived or missing."""

    def __init__(self, level: int, idx: int) -> None:
        super().__init__(f"no hash for leaves {idx << level}..{((idx + 1) << level) - 1}")
        self.level, self.idx = level, idx


def block_keys(block: int) -> list[Key]:
    """Every subtree below FLOOR inside one block of 2**FLOOR leaves."""
    return [(level, idx) for level in range(FLOOR)
            for idx in range(block << (FLOOR - level), (block + 1) << (FLOOR - level))]


class Subtrees:
    """Hashes of aligned perfect subtrees (level, idx) from the stored nodes and the leaf hashes,
    memoised for one use (a checkpoint, a proof, an archive's plan)."""

    def __init__(self, stored: NodeGetter, leaves: LeafGetter) -> None:
        self._stored = stored
        self._leaves = leaves
        self._known: dict[Key, bytes] = {}
        self._blocks: set[int] = set()

    def know(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        self._known.update({(level, idx): value for level, idx, value in nodes})

    def know_leaves(self, start: int, hashes: Sequence[bytes], to_end: bool = False) -> None:
        """Leaf hashes from ``start`` (``to_end``: up to the log's end); the blocks they cover
        are not read again."""
        self._known.update({(0, start + i): value for i, value in enumerate(hashes)})
        end = start + len(hashes)
        last = -(-end >> FLOOR) if to_end else end >> FLOOR  # to the end: the last block, partial
        self._blocks.update(range(-(-start >> FLOOR), last))

    def get(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        wanted = [k for k in dict.fromkeys(keys) if k not in self._known]
        # Below FLOOR in a block already read, the leaves (and any kept nodes) are known: fold.
        asked = [(level, idx) for level, idx in wanted if level >= FLOOR or (idx << level) >> FLOOR not in self._blocks]
        if asked:
            self._known.update(self._stored(asked))
        for level, idx in wanted:
            if (level, idx) not in self._known:
                if level >= FLOOR:
                    raise MissingHash(level, idx)
                self._load_block((idx << level) >> FLOOR)
                self._fold(level, idx)
        return {k: self._known[k] for k in keys}

    def node(self, level: int, idx: int) -> bytes:
        value = self._known.get((level, idx))
        return value if value is not None else self.get([(level, idx)])[(level, idx)]

    def _load_block(self, block: int) -> None:
        if block in self._blocks:
            return
        self._blocks.add(block)
        found = self._leaves(block << FLOOR, (block + 1) << FLOOR)
        for seq, value in found.items():
            self._known.setdefault((0, seq), value)
        if len(found) < BLOCK:  # archived (or not yet appended) leaves: kept nodes stand in
            for key, value in self._stored(block_keys(block)).items():
                self._known.setdefault(key, value)

    def _fold(self, level: int, idx: int) -> bytes:
        value = self._known.get((level, idx))
        if value is None:
            if level == 0:
                raise MissingHash(0, idx)
            value = node_hash(self._fold(level - 1, 2 * idx), self._fold(level - 1, 2 * idx + 1))
            self._known[(level, idx)] = value
        return value

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges proofs use (RFC 9162 §2.1.1), from aligned pieces."""
        if start == end:
            return EMPTY_ROOT
        parts = pieces(start, end)
        found = self.get(parts)
        value = found[parts[-1]]
        for left in reversed(parts[:-1]):
            value = node_hash(found[left], value)
        return value


def completed_nodes(old_size: int, new_size: int, tree: Subtrees) -> list[tuple[int, int, bytes]]:
    """Perfect subtrees of level >= FLOOR complete at ``new_size`` but not at ``old_size``.

    ``tree`` must know (``know_leaves``) the leaf hashes from ``old_size`` rounded down to a
    block up to ``new_size``; the subtrees complete before come from its stored nodes."""
    wanted = []  # the left edges (complete before, stored), fetched in one call
    level = FLOOR + 1
    while (1 << level) <= new_size:
        for idx in range(old_size >> level, new_size >> level):
            wanted += [(level - 1, i) for i in (2 * idx, 2 * idx + 1) if (i + 1) << (level - 1) <= old_size]
        level += 1
    if wanted:
        tree.get(wanted)
    made = []
    level = FLOOR
    while (1 << level) <= new_size:
        for idx in range(old_size >> level, new_size >> level):
            value = node_hash(tree.node(level - 1, 2 * idx), tree.node(level - 1, 2 * idx + 1))
            tree.know([(level, idx, value)])
            made.append((level, idx, value))
        level += 1
    return made


def pieces(start: int, end: int) -> list[Key]:
    """[start, end) as aligned perfect subtrees (level, idx), largest first."""
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def kept_nodes(cut: int, sizes: Iterable[int], tree: Subtrees) -> list[tuple[int, int, bytes]]:
    """What must be kept below FLOOR before the leaves [0, cut) are archived: every subtree
    below ``cut`` in the block holding the cut (the remaining leaves' inclusion proofs and the
    verifier's starting point, ``pieces(0, cut)``) and in the block of each checkpoint size in
    ``sizes`` (consistency proofs from those checkpoints, RFC 9162 §2.1.4)."""
    blocks = {cut >> FLOOR, *(size >> FLOOR for size in sizes if size <= cut)}
    out = []
    for block in sorted(blocks):
        keys = [(lvl, idx) for lvl, idx in block_keys(block) if (idx + 1) << lvl <= cut]
        out += [(lvl, idx, value) for (lvl, idx), value in tree.get(keys).items()]
    return out
