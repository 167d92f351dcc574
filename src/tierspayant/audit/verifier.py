"""The independent verifier: recomputes every leaf from its entry, the tree from the leaves,
and checks every signed checkpoint against it. Any edit, deletion, reordering, insertion or
truncation of the log changes a recomputed root, breaks the index sequence, or leaves a signed
checkpoint larger than the log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.merkle import IncrementalRoot, leaf_hash
from tierspayant.security.notes import Verifier, split_note, verify_note

#: How a key operation's canonical entry names its tag (audit/events.py: Tag.KEY_*).
_KEY_TAG = b'"tag":"keys:'


@dataclass
class Report:
    events: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    #: Indexes of the key operations found (rotations, shred requests, shreds: services/keys.py),
    #: verified like every other event, listed so that an auditor sees them.
    key_operations: list[int] = field(default_factory=list)
    #: The first leaf rehashed: above 0 when the leaves before are archived (the tree resumed
    #: from their stored frontier), and the checkpoints smaller than it are not rechecked.
    from_leaf: int = 0
    unchecked_checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(batches: Iterable[Sequence[tuple[int, bytes, bytes]]], checkpoints: Sequence[tuple[int, str]],
               verifier: Verifier, origin: str, on_progress: Callable[[int], None] | None = None,
               resume: IncrementalRoot | None = None) -> Report:
    """``batches``: (seq, entry, stored leaf hash) in seq order; ``checkpoints``: (size, note).

    ``resume``: the tree of the archived leaves [0, resume.size), from their stored frontier;
    the batches then start at that leaf. Sound for what follows: a root recomputed from a forged
    frontier and the real leaves matches no signed checkpoint (SHA-256's collision resistance),
    so every checkpoint from there on still binds the events still held."""
    report = Report()
    pending = sorted(checkpoints)
    parsed: dict[int, Checkpoint] = {}
    for size, note in pending:
        report.checkpoints += 1
        if not verify_note(note, verifier):
            report.problems.append(f"checkpoint {size}: bad signature")
            continue
        checkpoint = Checkpoint.parse(split_note(note)[0])
        if checkpoint.size != size or checkpoint.origin != origin:
            report.problems.append(f"checkpoint {size}: does not match its row")
            continue
        if size in parsed and parsed[size].root != checkpoint.root:
            report.problems.append(f"fork: two checkpoints of size {size} with different roots")
        parsed[size] = checkpoint
    tree = resume if resume is not None else IncrementalRoot()
    report.from_leaf = tree.size
    report.unchecked_checkpoints = sum(1 for size in parsed if size < tree.size)

    def check_at(size: int) -> None:
        if size in parsed and tree.root() != parsed[size].root:
            report.problems.append(f"checkpoint {size}: root does not match the events")

    check_at(tree.size)
    for batch in batches:
        for seq, entry, stored in batch:
            if seq != tree.size:
                report.problems.append(f"event {tree.size}: missing (next stored index is {seq})")
                return report
            recomputed = leaf_hash(entry)
            if recomputed != stored:
                report.problems.append(f"event {seq}: entry does not match its leaf hash")
            tree.add(recomputed)
            report.events += 1
            if _KEY_TAG in entry:
                report.key_operations.append(seq)
            check_at(tree.size)
        if on_progress:
            on_progress(len(batch))
    beyond = [size for size in parsed if size > tree.size]
    if beyond:
        report.problems.append(f"truncated: signed checkpoint of size {max(beyond)} but only {tree.size} events")
    return report
