"""Engagements, quotes and invoices in SQL (``services.ports.care.Claims``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update

from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.reference import CareCategory
from tierspayant.services.records import Engagement, Invoice, Quote
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.prepared import Prepared

# The rights check's engagement, on the prepared path (store/prepared.py): SQLAlchemy's
# execution of an INSERT .. RETURNING cost 7 % of a worker's time there (py-spy, issue 19).
_ADD_ENGAGEMENT = Prepared(
    insert(t.engagements).values({c.name: bindparam(c.name) for c in t.engagements.c if c.name != "id"})
    .returning(t.engagements.c.id),
    bind_types={c.name: c.type for c in t.engagements.c if c.name != "id"})
#: The statuses that still bill their care (a duplicate of one is R005).
_BILLING = [s.value for s in InvoiceStatus if s.bills_the_care]


class SqlClaims(SqlPort):
    """Quotes and invoices sealed with their insurer's key."""

    def add_engagement(self, engagement: Engagement, created_at: datetime) -> int:
        values = {k: getattr(engagement, k) for k in Engagement.__slots__ if k != "id"}
        values["category"] = engagement.category.value
        # No savepoint: numbers carry 80 random bits, a collision is an error, not a conflict.
        (row,) = _ADD_ENGAGEMENT.all(self.conn, {**values, "created_at": created_at})
        return int(row[0])

    def engagement_by_number(self, number: str) -> Engagement | None:
        return self._engagement(t.engagements.c.number == number)

    def engagement_by_id(self, engagement_id: int) -> Engagement | None:
        return self._engagement(t.engagements.c.id == engagement_id)

    def _engagement(self, where: Any) -> Engagement | None:
        row = self.conn.execute(select(t.engagements).where(where)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data.pop("created_at")
        data["category"] = CareCategory(data["category"])
        return Engagement(**data)

    def add_quote(self, quote: Quote, created_at: datetime) -> int:
        values = {k: getattr(quote, k) for k in Quote.__slots__ if k != "id"}
        return self._insert_sealed(t.quotes, {**values, "created_at": created_at}, "number")

    def quote_by_number(self, number: str) -> Quote | None:
        data = self._open(t.quotes, self.conn.execute(select(t.quotes).where(t.quotes.c.number == number)).first())
        if data is None:
            return None
        data.pop("created_at")
        return Quote(**data)

    def invoice_by_number(self, professional_id: int, invoice_number: str) -> Invoice | None:
        return self._invoice(and_(t.invoices.c.professional_id == professional_id,
                                  t.invoices.c.invoice_number == invoice_number))

    def _invoice(self, where: Any) -> Invoice | None:
        data = self._open(t.invoices, self.conn.execute(select(t.invoices).where(where)).first())
        if data is None:
            return None
        data["category"] = CareCategory(data["category"])
        data["status"] = InvoiceStatus(data["status"])
        return Invoice(**data)

    def care_key_used(self, care_key: str) -> bool:
        return self.conn.execute(
            select(t.invoices.c.id).where(t.invoices.c.care_key == care_key, t.invoices.c.status.in_(_BILLING)).limit(1)
        ).first() is not None

    def invoice_by_id(self, invoice_id: int) -> Invoice | None:
        return self._invoice(t.invoices.c.id == invoice_id)

    def change_invoice_status(self, invoice_id: int, expected: Sequence[InvoiceStatus], status: InvoiceStatus,
                              at: datetime, by: int | None = None, decision: str | None = None) -> bool:
        c = t.invoices.c
        values: dict[str, Any] = {"status": status.value, "changed_at": at}
        if decision is not None:
            values.update(review_decision=decision, reviewed_by=by)
        if status is InvoiceStatus.REJECTED:
            values["approved_amc"] = Decimal("0.00")
        # Conditional: a payment run attaching it first (or another change) wins, this one writes nothing.
        return bool(self.conn.execute(update(t.invoices).where(
            c.id == invoice_id, c.payment_order_id.is_(None), c.status.in_([s.value for s in expected]))
            .values(**values)).rowcount == 1)

    def add_invoice(self, invoice: Invoice) -> int:
        values = {k: getattr(invoice, k) for k in Invoice.__slots__ if k != "id"}
        values["category"] = invoice.category.value
        values["status"] = invoice.status.value
        return self._insert_sealed(t.invoices, values, "invoice_number")
