"""``verify-scope``, the auditor's check of an incident's scope
(docs/THREATS.md, "Breach response"): from the events table and the signed checkpoint alone -- every leaf up to the
checkpoint rehashed and the tree's root compared with the signed one (an event removed, added or
edited anywhere fails), the window's leaf range found again, events dated in the window but
appended after the checkpoint reported, and the compromised principals' exposures recomputed with
the same pure rules (breach/scope.py) and compared with the scope's log part (``log_digest``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tierspayant.audit.events import AccessEvent
from tierspayant.audit.verifier import verify_log
from tierspayant.breach.scope import Compromised, Scope
from tierspayant.security.digests import content_digest
from tierspayant.services.audit import AuditService
from tierspayant.services.ports import HasCheckpoints, HasLog, UnitOfWork


class LogStore(HasLog, HasCheckpoints, Protocol):
    """The ports the check reads: the log's events and its checkpoints, nothing else."""


@dataclass(frozen=True, slots=True)
class ScopeCheck:
    ok: bool
    lines: list[str]


def _dated(entry: bytes) -> datetime:
    """An entry's date without decoding the rest (canonical JSON: '"at":"<ISO>"')."""
    start = entry.index(b'"at":"') + 6
    return datetime.fromisoformat(entry[start:entry.index(b'"', start)].decode())


def verify_stored_scope(uow: UnitOfWork[LogStore], audit: AuditService, scope_json: str, batch: int = 20_000,
                        on_progress: Callable[[int], None] | None = None) -> ScopeCheck:
    stored = json.loads(scope_json)
    size = int(stored["checkpoint_size"])
    lines: list[str] = []
    with uow(readonly=True) as tx:
        checkpoint = tx.checkpoints.checkpoint_at(size) if size else None
    if checkpoint is None and stored["leaves"][0] is not None:
        return ScopeCheck(False, [f"no signed checkpoint of size {size} in the log"])
    start, end = datetime.fromisoformat(stored["window"][0]), datetime.fromisoformat(stored["window"][1])
    # Archived leaves (services/log_archive.py): rehashed from their stored frontier on; a scope
    # over archived months needs them restored first.
    cut, last_at = audit.archived_until()
    if last_at is not None and start <= last_at:
        return ScopeCheck(False, [f"events dated up to {last_at.isoformat()} are archived: restore them first "
                                  "(tiers audit restore)"])
    resume = audit.frontier() if cut else None
    recomputed = Scope(start, end, Compromised.from_dict(stored["compromised"]), checkpoint_size=size)
    window: list[tuple[int, AccessEvent]] = []

    def batches() -> Iterator[list[tuple[int, bytes, bytes]]]:
        after = cut
        while after < size:
            with uow(readonly=True) as tx:
                rows = [r for r in tx.log.events_page(after, min(batch, size - after)) if r.seq < size]
            if not rows:
                return
            for row in rows:
                if start <= _dated(row.entry) < end:
                    window.append((row.seq, AccessEvent.from_canonical(row.entry)))
            yield [(r.seq, r.entry, r.leaf_hash) for r in rows]
            after = rows[-1].seq + 1

    notes = [(checkpoint.size, checkpoint.note)] if checkpoint else []
    report = verify_log(batches(), notes, audit.signer.verifier, audit.origin, on_progress, resume)
    lines.append(f"{report.events} events rehashed against the signed checkpoint of size {size}")
    lines += report.problems
    leaves = (min(s for s, _ in window), max(s for s, _ in window)) if window else (None, None)
    recomputed.first_leaf, recomputed.last_leaf = leaves
    recomputed.add_events(window)
    late = _dated_after(uow, size, start, end, batch)
    if late:
        lines.append(f"{len(late)} event(s) dated in the window lie beyond the signed checkpoint "
                     f"(first: leaf {late[0]}): not covered by the scope")
    same_leaves = list(leaves) == stored["leaves"] and not late
    same_people = content_digest(recomputed.canonical()) == stored["log_digest"]
    if list(leaves) != stored["leaves"]:
        lines.append(f"the window's leaves are {list(leaves)}, the scope says {stored['leaves']}")
    if not same_people:
        lines.append("the exposures recomputed from the log differ from the scope's")
    else:
        lines.append(f"{recomputed.people()} people exposed through the log, as the scope says "
                     f"(leaves {leaves[0]}..{leaves[1]})")
    return ScopeCheck(report.ok and same_leaves and same_people, lines)


def _dated_after(uow: UnitOfWork[LogStore], size: int, start: datetime, end: datetime, batch: int) -> list[int]:
    """Leaves at or after ``size`` dated in [start, end): appended after the checkpoint the
    scope relied on (a late write, or an insertion)."""
    found: list[int] = []
    after = size
    while True:
        with uow(readonly=True) as tx:
            rows = tx.log.events_page(after, batch)
        if not rows:
            return found
        found += [r.seq for r in rows if start <= _dated(r.entry) < end]
        after = rows[-1].seq + 1
