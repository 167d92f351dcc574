"""Detection in SQL (``services.ports.oversight``: ``DetectionCounters``, ``Containments``):
per-(account, identity) counters upserted on every rights check, containments and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, case, delete, distinct, func, insert, select, update

from tierspayant.detection.baselines import Baseline
from tierspayant.detection.counting import HOUR, MINUTE, TEN_MINUTES, WIDTHS, slot, width_of, window_slots
from tierspayant.detection.thresholds import WINDOWS
from tierspayant.services.records import Alert, Containment, ContainmentScope, Presented, RecentActivity, SeenSubject
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert
from tierspayant.store.prepared import Prepared
from tierspayant.store.types import UtcDateTime

_SEEN = t.detection_seen
_ORG_SEEN = t.detection_org_seen
_SLOTS = t.detection_slots
_COUNTERS = (_SEEN.c.subject, _SEEN.c.neighbourhood, _SEEN.c.last_at, _SEEN.c.attempts, _SEEN.c.hits,
             _SEEN.c.failures, _SEEN.c.refusals)
_AT = {"first_at": UtcDateTime(), "last_at": UtcDateTime(), "previous_at": UtcDateTime()}
_UPSERTS: dict[tuple[str, str], Prepared] = {}
# On the rights check's hot path: run on the driver's cursor (store/prepared.py, measured).
_HOUR = and_(_SEEN.c.account_id == bindparam("account_id"), _SEEN.c.last_at >= bindparam("hour"),
             _SEEN.c.last_at <= bindparam("until"))
_TEN = _SEEN.c.last_at >= bindparam("ten")
# Aggregates in the database, one row: the hour's rows never cross into Python (issue 13: the
# 500 rows a busy account's check read back cost more than the rest of detection).
_RECENT = select(
    func.count(case((_TEN, 1))),
    func.count(case((and_(_TEN, _SEEN.c.hits == 0, _SEEN.c.failures > 0), 1))),
    func.coalesce(func.max(_SEEN.c.failures), 0),
    func.coalesce(func.sum(_SEEN.c.refusals), 0),
    func.count(case((_SEEN.c.neighbourhood == bindparam("neighbourhood"), 1))),
).where(_HOUR)


def _window_sums() -> Select[Any]:
    """The distinct counts of an account and its organisation in one row: for each holder and
    window of WINDOWS, the sum of the slots it covers (``window_slots``), each an index range
    summed in the database."""
    sums = []
    for scope, holder in ((ContainmentScope.ACCOUNT, "account_id"), (ContainmentScope.ORGANISATION, "organisation_id")):
        for n, window in enumerate(WINDOWS):
            sums.append(select(func.coalesce(func.sum(_SLOTS.c.count), 0)).where(
                _SLOTS.c.scope == scope.value, _SLOTS.c.holder_id == bindparam(holder),
                _SLOTS.c.width == width_of(window), _SLOTS.c.slot >= bindparam(f"first_{n}"),
                _SLOTS.c.slot <= bindparam(f"last_{n}")).scalar_subquery())
    return select(*sums)


def _recent_all() -> Prepared:
    """The hour's aggregates, the identity's own counters and both holders' distinct counts in
    one statement: each statement's round trip through the driver cost more than its query
    (bench/README.md, issue 13)."""
    sums = _RECENT.add_columns(*_window_sums().selected_columns).subquery("sums")
    me = _SEEN.alias("me")  # the identity's own row: one index seek, joined to the one row of sums
    columns = list(sums.c)
    return Prepared(select(*columns[:5], *(me.c[c.name] for c in _COUNTERS[1:]), *columns[5:]).select_from(
        sums.outerjoin(me, and_(me.c.account_id == bindparam("account_id"), me.c.subject == bindparam("subject")))),
        {"hour": UtcDateTime(), "ten": UtcDateTime(), "until": UtcDateTime()})


_RECENT_ALL = _recent_all()
#: How long each width's slots are kept: the longest window that reads them, and a slot more.
KEEP = {MINUTE: timedelta(hours=2), TEN_MINUTES: timedelta(hours=3), HOUR: timedelta(hours=26)}


def _upsert(conn: Connection, table: str) -> Prepared:
    """Built once per dialect (the rights check's hot path: building costs more than running)."""
    key = (conn.dialect.name, table)
    if key not in _UPSERTS:
        insert_ = dialect_insert(conn)
        if table == "seen":
            stmt = insert_(_SEEN).values({c.name: bindparam(c.name) for c in _SEEN.c})
            _UPSERTS[key] = Prepared(stmt.on_conflict_do_update(
                index_elements=[_SEEN.c.account_id, _SEEN.c.subject], set_={
                    # The previous presentation comes back with the write: the slot move needs
                    # no read, and is exact whatever runs concurrently (SET reads the old row).
                    "session_id": stmt.excluded.session_id, "previous_at": _SEEN.c.last_at,
                    "last_at": stmt.excluded.last_at,
                    "attempts": _SEEN.c.attempts + 1, "hits": _SEEN.c.hits + stmt.excluded.hits,
                    "failures": _SEEN.c.failures + stmt.excluded.failures,
                    "refusals": _SEEN.c.refusals + stmt.excluded.refusals}).returning(_SEEN.c.previous_at), _AT)
        else:
            stmt = insert_(_ORG_SEEN).values({c.name: bindparam(c.name) for c in _ORG_SEEN.c})
            _UPSERTS[key] = Prepared(stmt.on_conflict_do_update(
                index_elements=[_ORG_SEEN.c.organisation_id, _ORG_SEEN.c.subject],
                set_={"previous_at": _ORG_SEEN.c.last_at, "last_at": stmt.excluded.last_at},
            ).returning(_ORG_SEEN.c.previous_at), {"last_at": UtcDateTime(), "previous_at": UtcDateTime()})
    return _UPSERTS[key]


def _moves(scope: ContainmentScope, holder_id: int, previous: datetime | None, at: datetime,
           ) -> list[tuple[str, int, int, int, int]]:
    """The identity leaves the slots of its previous presentation (-1) for the current ones (+1).
    A previous slot already forgotten gets a -1 row of its own: it lies outside every window
    (KEEP) and goes at the next purge."""
    rows = []
    for width in WIDTHS:
        new = slot(at, width)
        old = slot(previous, width) if previous is not None else None
        if old == new:
            continue
        if old is not None:
            rows.append((scope.value, holder_id, width, old, -1))
        rows.append((scope.value, holder_id, width, new, 1))
    return rows


_SLOT_UPSERTS: dict[tuple[str, int, bool], Prepared] = {}
#: How long the insurers' hourly counters are kept: their baseline's week, and a day more.
INSURER_KEEP = timedelta(days=8)
_SLOT_NAMES = ("scope", "holder_id", "width", "slot", "count")


def _slot_upsert(conn: Connection, n: int, returning: bool = False) -> Prepared:
    """An upsert of ``n`` slot rows adding each row's count, optionally returning the new
    counts (built once per dialect, size and shape)."""
    key = (conn.dialect.name, n, returning)
    if key not in _SLOT_UPSERTS:
        stmt = dialect_insert(conn)(_SLOTS).values([{c: bindparam(f"{c}_{i}") for c in _SLOT_NAMES} for i in range(n)])
        upsert = stmt.on_conflict_do_update(
            index_elements=[_SLOTS.c.scope, _SLOTS.c.holder_id, _SLOTS.c.width, _SLOTS.c.slot],
            set_={"count": _SLOTS.c.count + stmt.excluded.count})
        _SLOT_UPSERTS[key] = Prepared(upsert.returning(_SLOTS.c.count) if returning else upsert)
    return _SLOT_UPSERTS[key]


def _slot_params(rows: list[tuple[str, int, int, int, int]]) -> dict[str, Any]:
    return {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in zip(_SLOT_NAMES, row, strict=True)}


class SqlDetectionCounters(SqlPort):
    """Counters upserted on the rights check's hot path (prepared statements); distinct counts
    in slots (detection/counting.py): no query's cost grows with the holder's history."""

    def record_presented(self, presented: Presented) -> tuple[datetime | None, datetime | None]:
        hits, failures, refusals = presented.counts
        org = presented.organisation_id
        mine = _upsert(self.conn, "seen").all(self.conn, {
            "account_id": presented.account_id, "subject": presented.subject,
            "organisation_id": org, "session_id": presented.session_id,
            "neighbourhood": presented.neighbourhood, "first_at": presented.at, "last_at": presented.at,
            "previous_at": None, "attempts": 1, "hits": hits, "failures": failures, "refusals": refusals})[0][0]
        moves = _moves(ContainmentScope.ACCOUNT, presented.account_id, mine, presented.at)
        theirs = None
        if org is not None and mine is not None and slot(mine, MINUTE) == slot(presented.at, MINUTE):
            # Presented again within the minute: the organisation presented it no earlier, so its
            # slots do not move either, and its memory's minute is already this one.
            theirs = mine
        elif org is not None:
            theirs = _upsert(self.conn, "org_seen").all(self.conn, {
                "organisation_id": org, "subject": presented.subject, "last_at": presented.at,
                "previous_at": None})[0][0]
            moves += _moves(ContainmentScope.ORGANISATION, org, theirs, presented.at)
        if moves:
            # Every slot move of the check in one statement (rows in key order: the same lock
            # order in every transaction on PostgreSQL); measured: bench/README.md, issue 13.
            moves.sort()
            _slot_upsert(self.conn, len(moves)).execute(self.conn, _slot_params(moves))
        return mine, theirs

    def recent(self, account_id: int, organisation_id: int | None, subject: str, neighbourhood: str, at: datetime,
               ) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], RecentActivity, SeenSubject | None]:
        params: dict[str, Any] = {
            "account_id": account_id, "organisation_id": -1 if organisation_id is None else organisation_id,
            "subject": subject, "neighbourhood": neighbourhood, "until": at,
            "ten": at - timedelta(seconds=WINDOWS[1]), "hour": at - timedelta(seconds=WINDOWS[2])}
        for n, (_, first, last) in enumerate(window_slots(at)):
            params[f"first_{n}"], params[f"last_{n}"] = first, last
        row = _RECENT_ALL.all(self.conn, params)[0]
        recent = RecentActivity(*(int(v) for v in row[:5]))
        seen = SeenSubject(subject, *row[5:11]) if row[6] is not None else None
        counts = tuple(int(v) for v in row[11:])
        return (counts[:len(WINDOWS)], counts[len(WINDOWS):]), recent, seen

    def purge_seen(self, before: datetime) -> int:
        gone = self.conn.execute(delete(_SEEN).where(_SEEN.c.last_at < before)).rowcount
        gone += self.conn.execute(delete(_ORG_SEEN).where(_ORG_SEEN.c.last_at < before)).rowcount
        now = before + timedelta(seconds=WINDOWS[-1])
        holders = (ContainmentScope.ACCOUNT.value, ContainmentScope.ORGANISATION.value)
        for width, keep in KEEP.items():
            gone += self.conn.execute(delete(_SLOTS).where(
                _SLOTS.c.scope.in_(holders), _SLOTS.c.width == width, _SLOTS.c.slot < slot(now - keep, width))).rowcount
        # The insurers' hourly counters feed a week's baseline (detection/baselines.py).
        gone += self.conn.execute(delete(_SLOTS).where(
            _SLOTS.c.scope.not_in(holders), _SLOTS.c.slot < slot(now - INSURER_KEEP, HOUR))).rowcount
        return int(gone)

    def bump(self, scope: str, holder_id: int, at: datetime) -> int:
        row = (scope, holder_id, HOUR, slot(at, HOUR), 1)
        return int(_slot_upsert(self.conn, 1, returning=True).all(self.conn, _slot_params([row]))[0][0])

    def purge_hourly(self, scope: str, before: datetime) -> int:
        return int(self.conn.execute(delete(_SLOTS).where(
            _SLOTS.c.scope == scope, _SLOTS.c.width == HOUR, _SLOTS.c.slot < slot(before, HOUR))).rowcount)

    def hourly(self, scope: str, since: datetime, until: datetime) -> dict[tuple[int, int], int]:
        rows = self.conn.execute(select(_SLOTS.c.holder_id, _SLOTS.c.slot, _SLOTS.c.count).where(
            _SLOTS.c.scope == scope, _SLOTS.c.width == HOUR, _SLOTS.c.slot >= slot(since, HOUR),
            _SLOTS.c.slot <= slot(until, HOUR)))
        return {(int(h), int(s)): int(c) for h, s, c in rows}

    def baseline(self, account_id: int) -> Baseline | None:
        b = t.detection_baselines.c
        row = self.conn.execute(select(b.days, b.day_mean, b.peak_hour_mean, b.hours, b.learned_through).where(
            b.account_id == account_id)).first()
        return Baseline(*row) if row else None

    def save_baseline(self, account_id: int, baseline: Baseline, previous: Baseline | None) -> bool:
        b = t.detection_baselines.c
        values = {"days": baseline.days, "day_mean": baseline.day_mean, "peak_hour_mean": baseline.peak_hour_mean,
                  "hours": baseline.hours, "learned_through": baseline.learned_through}
        if previous is None:
            stmt = dialect_insert(self.conn)(t.detection_baselines).values(account_id=account_id, **values)
            return self.conn.execute(stmt.on_conflict_do_nothing().returning(b.account_id)).first() is not None
        # Guarded: another worker that learned the same day first wins; this one changes nothing.
        return bool(self.conn.execute(update(t.detection_baselines).where(
            b.account_id == account_id, b.learned_through == previous.learned_through).values(**values)).rowcount)


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
