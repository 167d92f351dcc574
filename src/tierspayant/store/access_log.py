"""The transparency log in SQL (``services.ports.oversight``: ``AccessLog``, ``Checkpoints``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, and_, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError

from tierspayant.audit.events import AccessEvent
from tierspayant.audit.merkle import leaf_hash
from tierspayant.audit.tree import FLOOR
from tierspayant.services.ports.log_storage import EventsArchived
from tierspayant.services.records import PLATFORM_KEY_OWNER, StoredCheckpoint, StoredEvent
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert
from tierspayant.store.prepared import PreparedInsert
from tierspayant.store.protection import Protection

# One counter update and one multi-row insert per transaction, built once (bench/README.md).
_GROW_LOG = (update(t.audit_head).where(t.audit_head.c.id == 1)
             .values(size=t.audit_head.c.size + bindparam("n", type_=Integer)).returning(t.audit_head.c.size))
_INSERT_EVENTS = PreparedInsert(t.audit_events)


class SqlAccessLog(SqlPort):
    """Events buffered per transaction and written just before it commits."""

    def __init__(self, conn: Connection, protection: Protection, drop_events: bool = False) -> None:
        super().__init__(conn, protection)
        #: Benchmarks only (TIERS_UNSAFE_NO_ACCESS_LOG): events are dropped.
        self.drop_events = drop_events
        self.pending_events: list[AccessEvent] = []

    def append_events(self, events: Sequence[AccessEvent]) -> None:
        if not self.drop_events:
            self.pending_events.extend(events)

    def flush_events(self) -> None:
        """Write the events queued in this unit of work, just before it commits: one counter
        update and one multi-row insert per transaction (a group commit carries many)."""
        events, self.pending_events = self.pending_events, []
        if not events:
            return
        # The row lock on audit_head orders concurrent appenders: contiguous leaf indexes.
        new_size = int(self.conn.execute(_GROW_LOG, {"n": len(events)}).scalar_one())
        start = new_size - len(events)
        # On PostgreSQL the parent routes each row to its month's partition (or the DEFAULT one:
        # an access is never refused for want of a partition); the statement stays prepared.
        rows = [{"seq": start + offset, "at": event.at, "tag": event.tag.value, "account_id": event.account_id,
                 "organisation_id": event.organisation_id, "beneficiary": event.beneficiary,
                 "insurer_id": event.insurer_id, "entry": event.canonical().decode()}
                for offset, event in enumerate(events)]
        _INSERT_EVENTS.run(self.conn, rows)

    def log_size(self) -> int:
        return int(self.conn.execute(select(t.audit_head.c.size).where(t.audit_head.c.id == 1)).scalar_one())

    def events(self, start: int, end: int) -> list[StoredEvent]:
        return self._stored(and_(t.audit_events.c.seq >= start, t.audit_events.c.seq < end))

    def events_page(self, start: int, limit: int) -> list[StoredEvent]:
        return self._stored(t.audit_events.c.seq >= start, limit)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return [e.leaf_hash for e in self.events(start, end)]

    def _stored(self, where: Any, limit: int | None = None) -> list[StoredEvent]:
        query = select(t.audit_events.c.seq, t.audit_events.c.entry).where(where).order_by(t.audit_events.c.seq)
        rows = self.conn.execute(query.limit(limit) if limit is not None else query)
        # The leaf hash is H(0x00 || entry) (RFC 9162 §2.1.1): computed, not stored (migration 0026).
        return [StoredEvent(seq, data, leaf_hash(data)) for seq, data in ((r.seq, r.entry.encode()) for r in rows)]

    def archived_until(self) -> tuple[int, datetime | None]:
        a = t.audit_archives.c
        row = self.conn.execute(select(a.seq_to, a.last_at).where(a.restored_at.is_(None))
                                .order_by(a.seq_to.desc()).limit(1)).first()
        return (int(row.seq_to), row.last_at) if row else (0, None)

    def _not_archived(self, start: datetime) -> None:
        """A query from ``start`` on must not silently miss archived events (an incident's
        scope, an account's exposure): refused when it reaches the archived months."""
        _, last_at = self.archived_until()
        if last_at is not None and start <= last_at:
            raise EventsArchived(last_at)

    def events_of_beneficiary(self, pseudonym: str) -> list[StoredEvent]:
        return self._stored(t.audit_events.c.beneficiary == pseudonym)

    def key_events(self, owner: int | None) -> list[StoredEvent]:
        where = text(t.KEY_EVENTS)  # the partial index's own predicate, so that it is used
        if owner is None:
            return self._stored(where)
        # The platform's own key operations carry no insurer (services/keys.py).
        column = t.audit_events.c.insurer_id
        return self._stored(and_(where, column.is_(None) if owner == PLATFORM_KEY_OWNER else column == owner))

    def window_leaves(self, start: datetime, end: datetime) -> tuple[int, int] | None:
        # Dates rise with the leaf index up to a group commit's interleaving (seconds): no event
        # dated in the window lies before the first leaf dated an hour before it, nor after the
        # first leaf dated an hour after it (both found by bisection on the primary key). From
        # those two leaves the primary key is walked inwards, in order, to the first and the last
        # leaf dated in the window: a few rows read, never the window itself (30 days of a busy
        # log: millions). No index on the date: it would cost every rights check a b-tree more.
        self._not_archived(start)
        size = self.log_size()
        if size == 0:
            return None
        margin = timedelta(hours=1)
        e = t.audit_events.c
        low = self._first_at_or_after(start - margin, size)
        high = self._first_at_or_after(end + margin, size)
        dated = and_(e.at >= start, e.at < end)
        first = self.conn.execute(select(e.seq).where(e.seq >= low, e.seq < high, dated)
                                  .order_by(e.seq).limit(1)).scalar()
        if first is None:
            return None
        last = self.conn.execute(select(e.seq).where(e.seq >= first, e.seq < high, dated)
                                 .order_by(e.seq.desc()).limit(1)).scalar()
        return int(first), int(last if last is not None else first)

    def _first_at_or_after(self, at: datetime, size: int) -> int:
        """The first leaf index whose event is dated at or after ``at`` (``size`` if none), by
        bisection on the primary key."""
        e = t.audit_events.c
        low, high = self.archived_until()[0], size  # the archived leaves are dated before
        while low < high:
            middle = (low + high) // 2
            dated = self.conn.execute(select(e.at).where(e.seq >= middle).order_by(e.seq).limit(1)).scalar()
            if dated is None or dated >= at:
                high = middle
            else:
                low = middle + 1
        return low

    def events_of_actor(self, *, account_id: int | None, organisation_id: int | None, start: datetime,
                        end: datetime) -> list[StoredEvent]:
        self._not_archived(start)
        column, value = ((t.audit_events.c.account_id, account_id) if account_id is not None
                         else (t.audit_events.c.organisation_id, organisation_id))
        # Bounded in time: PostgreSQL reads only the partitions of [start, end) (pruning).
        return self._stored(and_(column == value, t.audit_events.c.at >= start, t.audit_events.c.at < end))


class SqlCheckpoints(SqlPort):
    """Checkpoints, cosignatures and subtree hashes."""

    def hashed_size(self) -> int:
        n = t.audit_nodes.c
        top = self.conn.execute(select(func.max(n.idx)).where(n.level == FLOOR)).scalar()
        return 0 if top is None else (int(top) + 1) << FLOOR

    def checkpoint_before(self, size: int, at: datetime | None = None) -> StoredCheckpoint | None:
        c = t.audit_checkpoints.c
        query = select(t.audit_checkpoints).where(c.size <= size)
        row = self.conn.execute((query if at is None else query.where(c.created_at < at))
                                .order_by(c.size.desc()).limit(1)).first()
        return self._checkpoint(row) if row else None

    def node_hashes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        # One statement for all of them (a checkpoint asks for ~2 log2(n) nodes: one query each
        # cost the rights check, whose group commits wait behind a checkpoint's transaction).
        n = t.audit_nodes.c
        out: dict[tuple[int, int], bytes] = {}
        keys = sorted(set(wanted))
        for first in range(0, len(keys), 200):
            chunk = keys[first:first + 200]
            rows = self.conn.execute(select(n.level, n.idx, n.hash).where(tuple_(n.level, n.idx).in_(chunk)))
            out.update({(int(level), int(idx)): bytes.fromhex(value) for level, idx, value in rows})
        return out

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        # A complete subtree's hash never changes (RFC 9162 2.1.1): two workers that computed the
        # same node on their checkpoint beats write it once (it was an IntegrityError in the log).
        if nodes:
            self.conn.execute(dialect_insert(self.conn)(t.audit_nodes).on_conflict_do_nothing(
                index_elements=["level", "idx"]),
                [{"level": level, "idx": idx, "hash": value.hex()} for level, idx, value in nodes])

    def _checkpoint(self, row: Any) -> StoredCheckpoint:
        return StoredCheckpoint(row.size, bytes.fromhex(row.root), row.created_at, row.note)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.conn.execute(select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.size.desc()).limit(1)).first()
        return self._checkpoint(row) if row else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self.conn.execute(select(t.audit_checkpoints).where(t.audit_checkpoints.c.size == size)).first()
        return self._checkpoint(row) if row else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.conn.execute(select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.size))
        return [self._checkpoint(r) for r in rows]

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t.audit_checkpoints).values(
                    size=checkpoint.size, root=checkpoint.root.hex(), created_at=checkpoint.created_at,
                    note=checkpoint.note))
        except IntegrityError:
            return False
        return True

    def add_cosignature(self, size: int, witness: str, signature_line: str, at: datetime) -> None:
        self.conn.execute(insert(t.audit_cosignatures).values(size=size, witness=witness,
                                                              signature_line=signature_line, created_at=at))

    def cosignatures(self, size: int) -> list[str]:
        rows = self.conn.execute(select(t.audit_cosignatures.c.signature_line)
                                 .where(t.audit_cosignatures.c.size == size).order_by(t.audit_cosignatures.c.id))
        return [r[0] for r in rows]
