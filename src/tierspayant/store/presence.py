"""Presence-proof nonces and proof-less admissions in SQL (``services.ports.care.PresenceLedger``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


class SqlPresenceLedger(SqlPort):
    """Single-use nonces and the daily quota of proof-less checks."""

    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        # INSERT .. ON CONFLICT DO NOTHING: atomic, and no savepoint inside the group commit.
        # RETURNING tells whether the row went in: ``rowcount`` does not (psycopg 3 with
        # SQLAlchemy 2.1 reports -1 for this statement on PostgreSQL, inserted or not).
        dialect_insert = sqlite_insert if self.conn.dialect.name == "sqlite" else pg_insert
        result = self.conn.execute(dialect_insert(t.presence_uses).values(
            nonce=nonce, professional_id=professional_id, used_at=at).on_conflict_do_nothing()
            .returning(t.presence_uses.c.nonce))
        return result.first() is not None

    def admit_proofless(self, account_id: int, day: date, subject: str, quota: int) -> bool:
        # Count-then-insert is exact because write transactions are serialised (BEGIN IMMEDIATE
        # on SQLite, the writers' advisory lock on PostgreSQL: store/database.py).
        where = and_(t.proofless_checks.c.account_id == account_id, t.proofless_checks.c.day == day)
        if self.conn.execute(select(t.proofless_checks.c.subject)
                             .where(where, t.proofless_checks.c.subject == subject)).first() is not None:
            return True
        if self.conn.execute(select(func.count()).select_from(t.proofless_checks).where(where)).scalar_one() >= quota:
            return False
        self.conn.execute(insert(t.proofless_checks).values(account_id=account_id, day=day, subject=subject))
        return True
