"""The access log over months (docs/THREATS.md, "Transparency log"): partitions created ahead,
old months archived to files and restored (services/ports/log_storage.py).

What archiving keeps, so that the signed log still proves what it holds: every signed
checkpoint; every stored subtree of 64 leaves and more (audit/tree.py); below that, the
subtrees under the cut in its block (the remaining events' inclusion proofs, and the verifier's
start: the archived leaves' frontier) and in the blocks of the kept checkpoints -- the last
one signed before each archived month's end, and the last before the cut -- from which
consistency to every later checkpoint stays provable (RFC 9162 §2.1.4).

What needs the archive restored: the archived events themselves (history, exposure and an
incident's scope over those months refuse rather than answer short: ``EventsArchived``), their
inclusion proofs, consistency from any other checkpoint among them, and a verification from
leaf 0 (``tiers audit verify`` checks the rest from the frontier on)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tierspayant.audit.events import Outcome, Tag
from tierspayant.audit.merkle import root_of
from tierspayant.audit.tree import BLOCK, FLOOR, kept_nodes
from tierspayant.security.policy import Principal
from tierspayant.services.ports import Clock, UnitOfWork
from tierspayant.services.ports.log_storage import (
    Archive,
    ArchivePlan,
    ArchiveRefused,
    LogStorage,
    Partition,
    PartitionsEnsured,
)

if TYPE_CHECKING:
    from tierspayant.services.audit import AuditService, AuditStore

logger = logging.getLogger("tierspayant.log")

#: Months created ahead: the current one and the next two (an insert for a month without a
#: partition still succeeds, in the DEFAULT one, and is warned about).
AHEAD = 3
#: The DEFAULT partition's events moved to their months by the server's own beat up to this
#: many (more would hold the appenders up: `tiers audit partitions --adopt`, at a quiet time).
ADOPT_LIMIT = 50_000


def months_from(at: datetime, count: int) -> list[datetime]:
    month = datetime(at.astimezone(UTC).year, at.astimezone(UTC).month, 1, tzinfo=UTC)
    out = []
    for _ in range(count):
        out.append(month)
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return out


class LogArchiving:
    def __init__(self, uow: UnitOfWork[AuditStore], clock: Clock, storage: LogStorage | None,
                 audit: AuditService) -> None:
        self.uow = uow
        self.clock = clock
        self.storage = storage
        self.audit = audit

    def _storage(self) -> LogStorage:
        if self.storage is None:
            raise ArchiveRefused("no partitioned storage configured")
        return self.storage

    def ensure_partitions(self, adopt_limit: int = ADOPT_LIMIT) -> PartitionsEnsured:
        """This month's and the next two months' partitions (the server at start-up and on its
        housekeeping beat; `tiers audit partitions`). Logs counts and month names only."""
        if self.storage is None or not self.storage.partitioned:
            return PartitionsEnsured([], 0, [])
        result = self.storage.ensure(months_from(self.clock.now(), AHEAD), adopt_limit)
        if result.created:
            logger.info("log partitions created: %s", ", ".join(result.created))
        if result.default_events:
            logger.warning("%d access events in the log's default partition (dated %s): "
                           "`tiers audit partitions --adopt` moves them to partitions of their months",
                           result.default_events, ", ".join(m.strftime("%Y-%m") for m in result.default_months))
        return result

    def partitions(self) -> list[Partition]:
        return self.storage.partitions() if self.storage is not None else []

    def archives(self) -> list[Archive]:
        return self.storage.archives() if self.storage is not None and self.storage.partitioned else []

    def plan(self, before: datetime) -> ArchivePlan:
        plan = self._storage().plan_archive(before)
        if plan is None:
            raise ArchiveRefused(f"no partition lies wholly before {before:%Y-%m-%d}")
        if plan.default_before:
            raise ArchiveRefused(f"{plan.default_before} events dated before {before:%Y-%m-%d} wait in the default "
                                 "partition: `tiers audit partitions --adopt` first")
        return plan

    def archive(self, principal: Principal, before: datetime) -> Archive:
        """Move the months before ``before`` out to files (services/ports LogStorage), after
        signing a checkpoint over them and keeping the subtrees proofs still need."""
        storage = self._storage()
        plan = self.plan(before)
        latest = self.audit.checkpoint()
        # Every later checkpoint hashes from the block of the last one on (services/audit.py
        # _extend): that block must lie wholly after the archived leaves.
        if (latest.size >> FLOOR) << FLOOR < plan.seq_to:
            raise ArchiveRefused(f"the log must reach {BLOCK} events past the archived ones ({plan.seq_to}) "
                                 "in a signed checkpoint first: try again later")
        with self.uow(readonly=True) as tx:
            sizes = {c.size for c in [tx.checkpoints.checkpoint_before(plan.seq_to),
                                      *(tx.checkpoints.checkpoint_before(plan.seq_to, p.upper) for p in plan.partitions)]
                     if c is not None}
            kept = kept_nodes(plan.seq_to, sizes, self.audit.subtrees(tx))
        with self.uow() as tx:
            tx.checkpoints.add_nodes(kept)
        archive = storage.write_archive(plan, self.clock.now())
        self._record(principal, Tag.LOG_ARCHIVE, f"log: {archive.events} events archived", archive)
        return archive

    def restore(self, principal: Principal, on_progress: Callable[[int], None] | None = None) -> tuple[Archive, list[str]]:
        """Load the latest archive back (the archived leaves stay a prefix), then check every
        whole block of 64 restored leaves against its stored subtree hash; the problems found."""
        storage = self._storage()
        live = [a for a in storage.archives() if a.restored_at is None]
        if not live:
            raise ArchiveRefused("nothing is archived")
        archive = max(live, key=lambda a: a.seq_to)
        storage.restore(archive, self.clock.now())
        problems = self._check(archive, on_progress)
        self._record(principal, Tag.LOG_RESTORE, f"log: {archive.events} archived events restored", archive)
        return archive, problems

    def _check(self, archive: Archive, on_progress: Callable[[int], None] | None) -> list[str]:
        first = -(-archive.seq_from >> FLOOR)
        last = archive.seq_to >> FLOOR  # blocks [first, last) lie wholly in the restored leaves
        problems = []
        step = 1024
        for block in range(first, last, step):
            end = min(block + step, last)
            with self.uow(readonly=True) as tx:
                leaves = tx.log.leaf_hashes(block << FLOOR, end << FLOOR)
                stored = tx.checkpoints.node_hashes([(FLOOR, b) for b in range(block, end)])
            if len(leaves) != (end - block) << FLOOR:
                problems.append(f"leaves {block << FLOOR}..{(end << FLOOR) - 1}: {len(leaves)} restored")
                continue
            for b in range(block, end):
                offset = (b - block) << FLOOR
                if root_of(leaves[offset:offset + BLOCK]) != stored.get((FLOOR, b)):
                    problems.append(f"leaves {b << FLOOR}..{((b + 1) << FLOOR) - 1}: not the leaves signed")
            if on_progress:
                on_progress(len(leaves))
        return problems

    def _record(self, principal: Principal, tag: Tag, purpose: str, archive: Archive) -> None:
        """The operation on the log itself (who moved which leaves), like the key operations."""
        event = self.audit.recorder.event(principal, self.clock.now(), tag, categories=(), purpose=purpose,
                                          outcome=Outcome.OK, ref=f"leaves {archive.seq_from}..{archive.seq_to - 1}")
        with self.uow() as tx:
            tx.log.append_events([event])
