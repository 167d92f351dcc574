"""Bank-detail changes and notices in SQL (``services.ports.care.BankDetails``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from tierspayant.services.records import BankChange
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


class SqlBankDetails(SqlPort):
    """Changes sealed with the platform key; the professional's details replaced when due."""

    def add_bank_change(self, professional_id: int, iban: str, bic: str, requested_at: datetime,
                        effective_at: datetime, requested_by: int) -> int:
        return self._insert_sealed(t.bank_detail_changes, {
            "professional_id": professional_id, "iban": iban, "bic": bic, "requested_at": requested_at,
            "effective_at": effective_at, "requested_by": requested_by, "cancelled": False, "applied": False,
        }, "iban")

    def bank_changes(self, professional_id: int) -> list[BankChange]:
        c = t.bank_detail_changes.c
        rows = self.conn.execute(select(c.id, c.professional_id, c.iban_enc, c.bic, c.requested_at, c.effective_at,
                                        c.cancelled, c.applied).where(c.professional_id == professional_id)
                                 .order_by(c.id))
        plain = (self._open(t.bank_detail_changes, r) for r in rows)
        return [BankChange(**p) for p in plain if p]

    def cancel_bank_change(self, professional_id: int, change_id: int) -> bool:
        c = t.bank_detail_changes.c
        result = self.conn.execute(update(t.bank_detail_changes).where(
            c.id == change_id, c.professional_id == professional_id, c.applied.is_(False), c.cancelled.is_(False))
            .values(cancelled=True))
        return result.rowcount == 1

    def apply_due_bank_changes(self, professional_id: int, at: datetime) -> None:
        due = [ch for ch in self.bank_changes(professional_id)
               if not ch.cancelled and not ch.applied and ch.effective_at <= at]
        if not due:
            return
        latest = due[-1]
        self._reseal(t.professionals, {"id": professional_id, "iban": latest.iban, "bic": latest.bic})
        self.conn.execute(update(t.bank_detail_changes).where(
            t.bank_detail_changes.c.id.in_([ch.id for ch in due])).values(applied=True))

    def add_notification(self, professional_id: int, kind: str, text: str, at: datetime) -> None:
        self.conn.execute(insert(t.notifications).values(professional_id=professional_id, kind=kind, text=text,
                                                         created_at=at))

    def notifications_of(self, professional_id: int) -> list[tuple[str, str, datetime]]:
        rows = self.conn.execute(select(t.notifications.c.kind, t.notifications.c.text, t.notifications.c.created_at)
                                 .where(t.notifications.c.professional_id == professional_id)
                                 .order_by(t.notifications.c.id))
        return [(r[0], r[1], r[2]) for r in rows]
