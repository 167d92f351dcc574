"""Detection in SQL (``services.ports.oversight``: ``DetectionCounters``, ``Containments``):
per-(account, identity) counters upserted on every rights check, containments and alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, case, delete, distinct, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tierspayant.services.records import Alert, Containment, ContainmentScope, Presented, SeenSubject
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.prepared import Prepared
from tierspayant.store.types import UtcDateTime

_SEEN = t.detection_seen
_SEEN_BY_ACCOUNT = select(_SEEN.c.subject, _SEEN.c.neighbourhood, _SEEN.c.last_at, _SEEN.c.attempts, _SEEN.c.hits,
                          _SEEN.c.failures, _SEEN.c.refusals).where(
    _SEEN.c.account_id == bindparam("account_id"), _SEEN.c.last_at >= bindparam("since"),
    _SEEN.c.last_at <= bindparam("until"))


_ORG_DISTINCT = select(*[func.count(distinct(case((_SEEN.c.last_at >= bindparam(f"s{i}"), _SEEN.c.subject))))
                         for i in range(4)]).where(_SEEN.c.organisation_id == bindparam("organisation_id"),
                                                   _SEEN.c.last_at >= bindparam("s3"),
                                                   _SEEN.c.last_at <= bindparam("until"))
_UPSERTS: dict[str, Prepared] = {}
_AT = {"first_at": UtcDateTime(), "last_at": UtcDateTime()}
# On the rights check's hot path: run on the driver's cursor (store/prepared.py, measured).
_SEEN_BY_ACCOUNT_FAST = Prepared(_SEEN_BY_ACCOUNT, {"since": UtcDateTime(), "until": UtcDateTime()})
_ORG_DISTINCT_FAST = Prepared(_ORG_DISTINCT, {"until": UtcDateTime(), **{f"s{i}": UtcDateTime() for i in range(4)}})


def _upsert(conn: Connection) -> Prepared:
    """Built once per dialect (the rights check's hot path: building costs more than running)."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        stmt = (sqlite_insert if name == "sqlite" else pg_insert)(_SEEN).values(
            {c.name: bindparam(c.name) for c in _SEEN.c})
        _UPSERTS[name] = Prepared(stmt.on_conflict_do_update(
            index_elements=[_SEEN.c.account_id, _SEEN.c.subject], set_={
                "session_id": stmt.excluded.session_id, "last_at": stmt.excluded.last_at,
                "attempts": _SEEN.c.attempts + 1, "hits": _SEEN.c.hits + stmt.excluded.hits,
                "failures": _SEEN.c.failures + stmt.excluded.failures,
                "refusals": _SEEN.c.refusals + stmt.excluded.refusals}), _AT)
    return _UPSERTS[name]


class SqlDetectionCounters(SqlPort):
    """Counters upserted on the rights check's hot path (prepared statements)."""

    def record_presented(self, presented: Presented) -> None:
        hits, failures, refusals = presented.counts
        _upsert(self.conn).execute(self.conn, {
            "account_id": presented.account_id, "subject": presented.subject,
            "organisation_id": presented.organisation_id, "session_id": presented.session_id,
            "neighbourhood": presented.neighbourhood, "first_at": presented.at, "last_at": presented.at,
            "attempts": 1, "hits": hits, "failures": failures, "refusals": refusals})

    def seen_by_account(self, account_id: int, since: datetime, until: datetime) -> list[SeenSubject]:
        rows = _SEEN_BY_ACCOUNT_FAST.all(self.conn, {"account_id": account_id, "since": since, "until": until})
        return [SeenSubject(*row) for row in rows]

    def organisation_distinct(self, organisation_id: int, since: Sequence[datetime],
                              until: datetime) -> tuple[int, ...]:
        """``since``: the four window starts, the widest last."""
        [row] = _ORG_DISTINCT_FAST.all(self.conn, {"organisation_id": organisation_id, "until": until,
                                                    **{f"s{i}": s for i, s in enumerate(since)}})
        return tuple(int(v or 0) for v in row)

    def purge_seen(self, before: datetime) -> int:
        return int(self.conn.execute(delete(_SEEN).where(_SEEN.c.last_at < before)).rowcount)


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
