"""Detection in SQL (``services.ports.oversight``: ``DetectionCounters``, ``Containments``):
per-(account, identity) counters upserted on every rights check, containments and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, distinct, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tierspayant.detection.counting import HOUR, MINUTE, WIDTHS, slot, window_slots
from tierspayant.detection.thresholds import WINDOWS
from tierspayant.services.records import Alert, Containment, ContainmentScope, Presented, SeenSubject
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.prepared import Prepared
from tierspayant.store.types import UtcDateTime

_SEEN = t.detection_seen
_ORG_SEEN = t.detection_org_seen
_SLOTS = t.detection_slots
_COUNTERS = (_SEEN.c.subject, _SEEN.c.neighbourhood, _SEEN.c.last_at, _SEEN.c.attempts, _SEEN.c.hits,
             _SEEN.c.failures, _SEEN.c.refusals)
_AT = {"first_at": UtcDateTime(), "last_at": UtcDateTime()}
_UPSERTS: dict[tuple[str, str], Prepared] = {}
# On the rights check's hot path: run on the driver's cursor (store/prepared.py, measured).
_RECENT = Prepared(select(*_COUNTERS).where(
    _SEEN.c.account_id == bindparam("account_id"), _SEEN.c.last_at >= bindparam("since"),
    _SEEN.c.last_at <= bindparam("until")).order_by(_SEEN.c.last_at.desc()).limit(bindparam("limit")),
    {"since": UtcDateTime(), "until": UtcDateTime()})
_SUBJECT = Prepared(select(*_COUNTERS).where(_SEEN.c.account_id == bindparam("account_id"),
                                             _SEEN.c.subject == bindparam("subject")))
_ORG_LAST = Prepared(select(_ORG_SEEN.c.last_at).where(_ORG_SEEN.c.organisation_id == bindparam("organisation_id"),
                                                       _ORG_SEEN.c.subject == bindparam("subject")))
_SLOT_ROWS = Prepared(select(_SLOTS.c.width, _SLOTS.c.slot, _SLOTS.c.count).where(
    _SLOTS.c.scope == bindparam("scope"), _SLOTS.c.holder_id == bindparam("holder_id"),
    or_(and_(_SLOTS.c.width == MINUTE, _SLOTS.c.slot >= bindparam("m0"), _SLOTS.c.slot <= bindparam("m1")),
        and_(_SLOTS.c.width == HOUR, _SLOTS.c.slot >= bindparam("h0"), _SLOTS.c.slot <= bindparam("h1")))))
_SLOT_DOWN = Prepared(update(_SLOTS).where(
    _SLOTS.c.scope == bindparam("scope"), _SLOTS.c.holder_id == bindparam("holder_id"),
    _SLOTS.c.width == bindparam("width"), _SLOTS.c.slot == bindparam("slot")).values(count=_SLOTS.c.count - 1))
#: How long each width's slots are kept: the longest window that reads them, and a slot more.
KEEP = {MINUTE: timedelta(hours=2), HOUR: timedelta(hours=26)}


def _dialect_insert(conn: Connection) -> Any:
    return sqlite_insert if conn.dialect.name == "sqlite" else pg_insert


def _upsert(conn: Connection, table: str) -> Prepared:
    """Built once per dialect (the rights check's hot path: building costs more than running)."""
    key = (conn.dialect.name, table)
    if key not in _UPSERTS:
        insert_ = _dialect_insert(conn)
        if table == "seen":
            stmt = insert_(_SEEN).values({c.name: bindparam(c.name) for c in _SEEN.c})
            _UPSERTS[key] = Prepared(stmt.on_conflict_do_update(
                index_elements=[_SEEN.c.account_id, _SEEN.c.subject], set_={
                    "session_id": stmt.excluded.session_id, "last_at": stmt.excluded.last_at,
                    "attempts": _SEEN.c.attempts + 1, "hits": _SEEN.c.hits + stmt.excluded.hits,
                    "failures": _SEEN.c.failures + stmt.excluded.failures,
                    "refusals": _SEEN.c.refusals + stmt.excluded.refusals}), _AT)
        elif table == "org_seen":
            stmt = insert_(_ORG_SEEN).values({c.name: bindparam(c.name) for c in _ORG_SEEN.c})
            _UPSERTS[key] = Prepared(stmt.on_conflict_do_update(
                index_elements=[_ORG_SEEN.c.organisation_id, _ORG_SEEN.c.subject],
                set_={"last_at": stmt.excluded.last_at}), {"last_at": UtcDateTime()})
        else:
            stmt = insert_(_SLOTS).values({c.name: bindparam(c.name) for c in _SLOTS.c})
            _UPSERTS[key] = Prepared(stmt.on_conflict_do_update(
                index_elements=[_SLOTS.c.scope, _SLOTS.c.holder_id, _SLOTS.c.width, _SLOTS.c.slot],
                set_={"count": _SLOTS.c.count + 1}))
    return _UPSERTS[key]


class SqlDetectionCounters(SqlPort):
    """Counters upserted on the rights check's hot path (prepared statements); distinct counts
    in slots (detection/counting.py): no query's cost grows with the holder's history."""

    def record_presented(self, presented: Presented) -> tuple[datetime | None, datetime | None]:
        hits, failures, refusals = presented.counts
        before = self.seen_subject(presented.account_id, presented.subject)
        _upsert(self.conn, "seen").execute(self.conn, {
            "account_id": presented.account_id, "subject": presented.subject,
            "organisation_id": presented.organisation_id, "session_id": presented.session_id,
            "neighbourhood": presented.neighbourhood, "first_at": presented.at, "last_at": presented.at,
            "attempts": 1, "hits": hits, "failures": failures, "refusals": refusals})
        mine = before.last_at if before else None
        self._move(ContainmentScope.ACCOUNT, presented.account_id, mine, presented.at)
        theirs = None
        if presented.organisation_id is not None:
            key = {"organisation_id": presented.organisation_id, "subject": presented.subject}
            rows = _ORG_LAST.all(self.conn, key)
            theirs = rows[0][0] if rows else None
            _upsert(self.conn, "org_seen").execute(self.conn, {**key, "last_at": presented.at})
            self._move(ContainmentScope.ORGANISATION, presented.organisation_id, theirs, presented.at)
        return mine, theirs

    def _move(self, scope: ContainmentScope, holder_id: int, previous: datetime | None, at: datetime) -> None:
        """The identity leaves the slots of its previous presentation for the current ones."""
        for width in WIDTHS:
            new = slot(at, width)
            old = slot(previous, width) if previous is not None else None
            if old == new:
                continue
            key = {"scope": scope.value, "holder_id": holder_id, "width": width}
            if old is not None:
                _SLOT_DOWN.execute(self.conn, {**key, "slot": old})  # a slot already forgotten: nothing
            _upsert(self.conn, "slots").execute(self.conn, {**key, "slot": new, "count": 1})

    def distinct_counts(self, scope: ContainmentScope, holder_id: int, at: datetime) -> tuple[int, ...]:
        windows = window_slots(at)
        minutes = [w for w in windows if w[0] == MINUTE]
        hours = [w for w in windows if w[0] == HOUR]
        rows = _SLOT_ROWS.all(self.conn, {
            "scope": scope.value, "holder_id": holder_id, "m0": min(w[1] for w in minutes), "m1": minutes[0][2],
            "h0": min(w[1] for w in hours), "h1": hours[0][2]})
        return tuple(sum(int(count) for w, s, count in rows if w == width and first <= s <= last)
                     for width, first, last in windows)

    def recent_by_account(self, account_id: int, since: datetime, until: datetime, limit: int) -> list[SeenSubject]:
        rows = _RECENT.all(self.conn, {"account_id": account_id, "since": since, "until": until, "limit": limit})
        return [SeenSubject(*row) for row in rows]

    def seen_subject(self, account_id: int, subject: str) -> SeenSubject | None:
        rows = _SUBJECT.all(self.conn, {"account_id": account_id, "subject": subject})
        return SeenSubject(*rows[0]) if rows else None

    def purge_seen(self, before: datetime) -> int:
        gone = self.conn.execute(delete(_SEEN).where(_SEEN.c.last_at < before)).rowcount
        gone += self.conn.execute(delete(_ORG_SEEN).where(_ORG_SEEN.c.last_at < before)).rowcount
        now = before + timedelta(seconds=WINDOWS[-1])
        for width, keep in KEEP.items():
            gone += self.conn.execute(delete(_SLOTS).where(
                _SLOTS.c.width == width, _SLOTS.c.slot < slot(now - keep, width))).rowcount
        return int(gone)


class SqlContainments(SqlPort):
    """Containments and alerts."""

    def contained_accounts_of_organisation(self, organisation_id: int, since: datetime) -> int:
        c = t.containments.c
        return int(self.conn.execute(
            select(func.count(distinct(c.target_id))).select_from(
                t.containments.join(t.accounts, t.accounts.c.id == c.target_id))
            .where(c.scope == ContainmentScope.ACCOUNT.value, c.created_at >= since, t.accounts.c.organisation_id == organisation_id)
        ).scalar_one())

    def add_containment(self, containment: Containment) -> int:
        values = {k: getattr(containment, k) for k in Containment.__slots__ if k != "id"}
        values["scope"] = containment.scope.value
        key = self.conn.execute(insert(t.containments).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def recent(self, *, active_at: datetime | None = None, limit: int = 200) -> list[Containment]:
        c = t.containments.c
        query = select(t.containments).order_by(c.id.desc()).limit(limit)
        if active_at is not None:
            query = query.where(c.lifted_at.is_(None), (c.until.is_(None)) | (c.until > active_at))
        return [Containment(**{**row._mapping, "scope": ContainmentScope(row.scope)}) for row in self.conn.execute(query)]

    def lift_containment(self, containment_id: int, by: int, at: datetime) -> bool:
        c = t.containments.c
        result = self.conn.execute(update(t.containments).where(and_(c.id == containment_id, c.lifted_at.is_(None)))
                                   .values(lifted_at=at, lifted_by=by))
        return result.rowcount == 1

    def add_alert(self, at: datetime, severity: str, containment_id: int | None, text: str) -> int:
        key = self.conn.execute(insert(t.alerts).values(at=at, severity=severity, containment_id=containment_id,
                                                        text=text, acknowledged=False)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def alerts(self, limit: int = 200) -> list[Alert]:
        c = t.alerts.c
        rows = self.conn.execute(select(c.id, c.at, c.severity, c.containment_id, c.text)
                                 .order_by(c.id.desc()).limit(limit))
        return [Alert(*row) for row in rows]
