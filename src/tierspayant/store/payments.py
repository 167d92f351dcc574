"""Payment runs, orders and statements in SQL (``services.ports.care.Payments``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, select, update

from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.payments import PayableInvoice
from tierspayant.services.records import PaymentOrderRecord, PaymentRun
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort

PAYABLE_STATUSES = tuple(s.value for s in InvoiceStatus if s.payable)


class SqlPayments(SqlPort):
    """Runs and statements sealed with the insurer's key; invoices attached one conditional UPDATE at a time."""

    def payable_invoices(self, insurer_id: int) -> list[PayableInvoice]:
        rows = self.conn.execute(
            select(t.invoices.c.id, t.invoices.c.professional_id, t.invoices.c.invoice_number, t.invoices.c.approved_amc)
            .where(t.invoices.c.insurer_id == insurer_id, t.invoices.c.status.in_(PAYABLE_STATUSES),
                   t.invoices.c.payment_order_id.is_(None))
            .order_by(t.invoices.c.id)
        )
        return [PayableInvoice(r.id, r.professional_id, r.invoice_number, r.approved_amc) for r in rows]

    def add_payment_run(self, insurer_id: int, created_at: datetime) -> int:
        return self._insert(t.payment_runs, {
            "insurer_id": insurer_id, "created_at": created_at, "order_count": 0, "total": Decimal(0),
        }, "id")

    def add_payment_order(self, run_id: int, professional_id: int, amount: Decimal, end_to_end_id: str,
                          statement: Mapping[str, Any]) -> int:
        insurer_id = self.conn.execute(select(t.payment_runs.c.insurer_id)
                                       .where(t.payment_runs.c.id == run_id)).scalar_one()
        return self._insert_sealed(t.payment_orders, {
            "run_id": run_id, "insurer_id": insurer_id, "professional_id": professional_id, "amount": amount,
            "end_to_end_id": end_to_end_id, "statement": dict(statement),
        }, "end_to_end_id")

    def attach_invoices(self, invoice_ids: Sequence[int], order_id: int) -> list[int]:
        attached = []
        for invoice_id in invoice_ids:
            # A conditional UPDATE: on PostgreSQL a concurrent run waits for our row lock, then
            # re-checks the WHERE and finds the invoice taken (READ COMMITTED re-evaluation);
            # on SQLite writers are serialised by BEGIN IMMEDIATE.
            result = self.conn.execute(
                update(t.invoices)
                .where(and_(t.invoices.c.id == invoice_id, t.invoices.c.payment_order_id.is_(None),
                            t.invoices.c.status.in_(PAYABLE_STATUSES)))
                .values(payment_order_id=order_id, status=InvoiceStatus.PAID.value)
            )
            if result.rowcount == 1:
                attached.append(invoice_id)
        return attached

    def set_payment_order(self, order_id: int, amount: Decimal, statement: Mapping[str, Any]) -> None:
        insurer_id = self.conn.execute(select(t.payment_orders.c.insurer_id)
                                       .where(t.payment_orders.c.id == order_id)).scalar_one()
        self._reseal(t.payment_orders, {"id": order_id, "insurer_id": insurer_id, "amount": amount,
                                        "statement": dict(statement)})

    def delete_payment_order(self, order_id: int) -> None:
        self.conn.execute(delete(t.payment_orders).where(t.payment_orders.c.id == order_id))

    def finish_payment_run(self, run_id: int, order_count: int, total: Decimal, sepa_xml: str | None) -> None:
        insurer_id = self.conn.execute(select(t.payment_runs.c.insurer_id)
                                       .where(t.payment_runs.c.id == run_id)).scalar_one()
        self._reseal(t.payment_runs, {"id": run_id, "insurer_id": insurer_id, "order_count": order_count,
                                      "total": total, "sepa_xml": sepa_xml})

    def payment_run(self, run_id: int) -> PaymentRun | None:
        plain = self._open(t.payment_runs,
                           self.conn.execute(select(t.payment_runs).where(t.payment_runs.c.id == run_id)).first())
        return PaymentRun(**plain) if plain else None

    def payment_orders(self, run_id: int) -> list[PaymentOrderRecord]:
        return self._orders(t.payment_orders.c.run_id == run_id, t.payment_orders.c.id)

    def payment_orders_of_professional(self, professional_id: int) -> list[PaymentOrderRecord]:
        return self._orders(t.payment_orders.c.professional_id == professional_id, t.payment_orders.c.id.desc())

    def payment_order(self, order_id: int) -> PaymentOrderRecord | None:
        found = self._orders(t.payment_orders.c.id == order_id, t.payment_orders.c.id)
        return found[0] if found else None

    def _orders(self, where: Any, order: Any) -> list[PaymentOrderRecord]:
        rows = self.conn.execute(select(t.payment_orders).where(where).order_by(order))
        plain = (self._open(t.payment_orders, r) for r in rows)
        return [PaymentOrderRecord(**{k: v for k, v in p.items() if k != "insurer_id"}) for p in plain if p]
