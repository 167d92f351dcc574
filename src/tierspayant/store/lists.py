"""Lists in SQL (``services.ports.lists``): keyset pages, each one indexed range read
(migration 0017: invoices by professional and by insurer, quotes by professional, in id order)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select

from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.reference import CareCategory
from tierspayant.services.list_records import InvoiceFilter, InvoiceRow, Key, QuoteRow, RunRow, Sort
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


def _after(table: Table, sort: Sort, after: Key | None) -> ColumnElement[bool] | None:
    """Rows strictly after ``after`` in ``sort`` order: (date of care, id) compared as a pair."""
    if after is None:
        return None
    c = table.c
    if not sort.by_date or after.date_of_care is None:
        return c.id < after.id if sort.descending else c.id > after.id
    if sort.descending:
        return or_(c.date_of_care < after.date_of_care, and_(c.date_of_care == after.date_of_care, c.id < after.id))
    return or_(c.date_of_care > after.date_of_care, and_(c.date_of_care == after.date_of_care, c.id > after.id))


def _order(table: Table, sort: Sort) -> list[Any]:
    c = table.c
    keys = [c.date_of_care, c.id] if sort.by_date else [c.id]
    return [k.desc() for k in keys] if sort.descending else keys


class SqlLists(SqlPort):
    """Pages of summaries: sealed columns are never read (nothing to open, nothing exposed)."""

    def invoices(self, where: InvoiceFilter, sort: Sort, after: Key | None, limit: int) -> list[InvoiceRow]:
        c = t.invoices.c
        conditions = [x for x in (
            c.insurer_id == where.insurer_id if where.insurer_id is not None else None,
            c.professional_id == where.professional_id if where.professional_id is not None else None,
            c.status == where.status.value if where.status is not None else None,
            c.date_of_care >= where.care_from if where.care_from is not None else None,
            c.date_of_care <= where.care_to if where.care_to is not None else None,
            _after(t.invoices, sort, after)) if x is not None]
        rows = self.conn.execute(select(
            c.id, c.invoice_number, c.insurer_id, c.professional_id, c.beneficiary_id, c.date_of_care, c.category,
            c.claimed_amc, c.approved_amc, c.status, c.payment_order_id, c.created_at,
        ).where(*conditions).order_by(*_order(t.invoices, sort)).limit(limit))
        return [InvoiceRow(r.id, r.invoice_number, r.insurer_id, r.professional_id, r.beneficiary_id, r.date_of_care,
                           CareCategory(r.category), r.claimed_amc, r.approved_amc, InvoiceStatus(r.status),
                           r.payment_order_id is not None, r.created_at) for r in rows]

    def quotes(self, professional_id: int, sort: Sort, after: Key | None, limit: int) -> list[QuoteRow]:
        c = t.quotes.c
        conditions = [x for x in (c.professional_id == professional_id, _after(t.quotes, sort, after)) if x is not None]
        rows = self.conn.execute(select(
            c.id, c.number, c.kind, c.insurer_id, c.professional_id, c.beneficiary_id, c.date_of_care, c.amc_total,
            c.valid_until, c.created_at).where(*conditions).order_by(*_order(t.quotes, sort)).limit(limit))
        return [QuoteRow(r.id, r.number, r.kind, r.insurer_id, r.professional_id, r.beneficiary_id, r.date_of_care,
                         r.amc_total, r.valid_until, r.created_at) for r in rows]

    def payment_runs(self, insurer_id: int, after: Key | None, limit: int) -> list[RunRow]:
        c = t.payment_runs.c
        conditions = [c.insurer_id == insurer_id] + ([c.id < after.id] if after is not None else [])
        rows = self.conn.execute(select(c.id, c.created_at, c.order_count, c.total).where(*conditions)
                                 .order_by(c.id.desc()).limit(limit))
        return [RunRow(r.id, r.created_at, r.order_count, r.total) for r in rows]
