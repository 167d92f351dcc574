"""Presence-proof nonces and proof-less budgets in SQL (``services.ports.care.PresenceLedger``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from tierspayant.detection.budgets import ProoflessDay
from tierspayant.services.records import ContainmentScope
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert
from tierspayant.store.prepared import Prepared

_SEEN = t.proofless_seen.c
_DAYS = t.proofless_days.c
# On the rights check's path for every new proof-less patient: prepared (store/prepared.py).
_KNOWN = Prepared(select(_SEEN.last_day).where(
    _SEEN.scope == bindparam("scope"), _SEEN.holder_id == bindparam("holder_id"),
    _SEEN.subject == bindparam("subject"), _SEEN.last_day >= bindparam("since")))
_DAYS_SINCE = Prepared(select(_DAYS.day, _DAYS.admitted, _DAYS.followed, _DAYS.quoted).where(
    _DAYS.scope == bindparam("scope"), _DAYS.holder_id == bindparam("holder_id"), _DAYS.day >= bindparam("since")))


class SqlPresenceLedger(SqlPort):
    """Single-use nonces; who each account and organisation checked without a proof, and the
    per-day counters the budgets are read from (detection/budgets.py)."""

    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        # INSERT .. ON CONFLICT DO NOTHING: atomic, and no savepoint inside the group commit.
        # RETURNING tells whether the row went in: ``rowcount`` does not (psycopg 3 with
        # SQLAlchemy 2.1 reports -1 for this statement on PostgreSQL, inserted or not).
        result = self.conn.execute(dialect_insert(self.conn)(t.presence_uses).values(
            nonce=nonce, professional_id=professional_id, used_at=at).on_conflict_do_nothing()
            .returning(t.presence_uses.c.nonce))
        return result.first() is not None

    def proofless_known(self, scope: ContainmentScope, holder_id: int, subject: str, since: date) -> bool:
        return bool(_KNOWN.all(self.conn, {"scope": scope.value, "holder_id": holder_id, "subject": subject,
                                           "since": since}))

    def proofless_days(self, scope: ContainmentScope, holder_id: int, since: date) -> list[ProoflessDay]:
        rows = _DAYS_SINCE.all(self.conn, {"scope": scope.value, "holder_id": holder_id, "since": since})
        return [ProoflessDay(d if isinstance(d, date) else date.fromisoformat(d), int(a), int(f), int(q))
                for d, a, f, q in rows]

    def count_proofless(self, scope: ContainmentScope, holder_id: int, subject: str, day: date,
                        organisation_id: int | None = None) -> None:
        # Count-then-write is exact because write transactions are serialised (BEGIN IMMEDIATE
        # on SQLite, the writers' advisory lock on PostgreSQL: store/database.py).
        key = {"scope": scope.value, "holder_id": holder_id}
        seen = self.conn.execute(select(_SEEN.last_day).where(
            _SEEN.scope == scope.value, _SEEN.holder_id == holder_id, _SEEN.subject == subject)).first()
        if seen is not None:
            self.conn.execute(update(t.proofless_seen).where(
                _SEEN.scope == scope.value, _SEEN.holder_id == holder_id, _SEEN.subject == subject)
                .values(last_day=max(day, seen[0])))
        else:
            self.conn.execute(insert(t.proofless_seen).values(**key, subject=subject, last_day=day))
        stmt = dialect_insert(self.conn)(t.proofless_days).values(**key, day=day, organisation_id=organisation_id, admitted=1,
                                                       followed=0, quoted=0)
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=[_DAYS.scope, _DAYS.holder_id, _DAYS.day], set_={"admitted": _DAYS.admitted + 1}))

    def add_proofless_engagement(self, engagement_id: int, account_id: int, organisation_id: int | None,
                                 day: date) -> None:
        self.conn.execute(insert(t.proofless_engagements).values(
            engagement_id=engagement_id, account_id=account_id, organisation_id=organisation_id, day=day,
            quoted=False))

    def follow_up(self, engagement_id: int) -> bool:
        e = t.proofless_engagements.c
        row = self.conn.execute(delete(t.proofless_engagements).where(e.engagement_id == engagement_id)
                                .returning(e.account_id, e.organisation_id, e.day, e.quoted)).first()
        if row is None:
            return False
        account_id, organisation_id, day, quoted = row
        values: dict[str, Any] = {"followed": _DAYS.followed + 1}
        if quoted:
            values["quoted"] = _DAYS.quoted - 1
        self.conn.execute(update(t.proofless_days).where(self._holders(account_id, organisation_id), _DAYS.day == day)
                          .values(**values))
        return True

    def quoted(self, engagement_id: int) -> bool:
        e = t.proofless_engagements.c
        row = self.conn.execute(update(t.proofless_engagements).where(e.engagement_id == engagement_id,
                                                                      e.quoted.is_(False))
                                .values(quoted=True).returning(e.account_id, e.organisation_id, e.day)).first()
        if row is None:
            return False
        account_id, organisation_id, day = row
        self.conn.execute(update(t.proofless_days).where(self._holders(account_id, organisation_id), _DAYS.day == day)
                          .values(quoted=_DAYS.quoted + 1))
        return True

    @staticmethod
    def _holders(account_id: int, organisation_id: int | None) -> Any:
        holders = [and_(_DAYS.scope == ContainmentScope.ACCOUNT.value, _DAYS.holder_id == account_id)]
        if organisation_id is not None:
            holders.append(and_(_DAYS.scope == ContainmentScope.ORGANISATION.value, _DAYS.holder_id == organisation_id))
        return or_(*holders)

    def driving_accounts(self, organisation_id: int, since: date, until: date, minimum: int) -> list[int]:
        admitted, followed, quoted = func.sum(_DAYS.admitted), func.sum(_DAYS.followed), func.sum(_DAYS.quoted)
        return [int(a) for a in self.conn.execute(
            select(_DAYS.holder_id).where(
                _DAYS.scope == ContainmentScope.ACCOUNT.value, _DAYS.organisation_id == organisation_id,
                _DAYS.day >= since, _DAYS.day <= until)
            .group_by(_DAYS.holder_id)
            .having(admitted - followed >= minimum, (followed + quoted) * 10 <= admitted)
            .order_by(_DAYS.holder_id)).scalars()]

    def purge_proofless(self, before: date) -> int:
        gone = self.conn.execute(delete(t.proofless_seen).where(_SEEN.last_day < before)).rowcount
        gone += self.conn.execute(delete(t.proofless_days).where(_DAYS.day < before)).rowcount
        e = t.proofless_engagements.c
        gone += self.conn.execute(delete(t.proofless_engagements).where(e.day < before)).rowcount
        return int(gone)
