"""Lists (services/listings.py): keyset pages of invoices, quotes and payment runs. Filters are
statuses, dates, a professional's RPPS: never a patient's identity in a URL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tierspayant.api.auth import INSURER_SIDE, INVOICE_LISTERS, PROFESSIONAL_DATA
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import IsoDate
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.security.policy import Principal
from tierspayant.services.list_records import Sort
from tierspayant.services.listings import DEFAULT_PAGE, MAX_PAGE

router = APIRouter(prefix="/v1", tags=["lists"])

Cursor = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="The `next` of the previous page (opaque)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Rows per page (at most {MAX_PAGE})")]
SortBy = Annotated[Sort, Query(description="received (oldest first), -received (newest first), "
                                           "date_of_care, -date_of_care")]


class InvoiceItem(BaseModel):
    id: int
    invoice_number: str
    professional_id: int
    date_of_care: date
    category: str
    claimed_amc: str
    approved_amc: str
    status: str
    paid: bool
    received_at: datetime


class InvoicePage(BaseModel):
    items: list[InvoiceItem]
    next: str | None = Field(description="Cursor of the next page; null on the last one")


class QuoteItem(BaseModel):
    number: str
    kind: str
    date_of_care: date
    amc: str
    valid_until: date | None
    created_at: datetime


class QuotePage(BaseModel):
    items: list[QuoteItem]
    next: str | None


class RunItem(BaseModel):
    id: int
    created_at: datetime
    order_count: int
    total: str


class RunPage(BaseModel):
    items: list[RunItem]
    next: str | None


@router.get("/invoices", response_model=InvoicePage)
def list_invoices(
    request: Request, principal: Principal = INVOICE_LISTERS,
    status: Annotated[InvoiceStatus | None, Query()] = None,
    care_from: Annotated[IsoDate | None, Query(description="Dates of care from this day")] = None,
    care_to: Annotated[IsoDate | None, Query(description="Dates of care up to this day")] = None,
    rpps: Annotated[str | None, Query(pattern=r"^\d{11}$", description="One professional's (insurers only)")] = None,
    sort: SortBy = Sort.RECEIVED_DESC, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE,
) -> InvoicePage:
    """A professional's invoices, or the invoices its insurer received (an insurer's operator)."""
    page = platform(request).listings.invoices(principal, status=status, care_from=care_from, care_to=care_to,
                                               rpps=rpps, sort=sort, cursor=cursor, limit=limit)
    return InvoicePage(items=[InvoiceItem(
        id=r.id, invoice_number=r.invoice_number, professional_id=r.professional_id, date_of_care=r.date_of_care,
        category=r.category.value, claimed_amc=str(r.claimed_amc), approved_amc=str(r.approved_amc),
        status=r.status.value, paid=r.paid, received_at=r.created_at) for r in page.rows], next=page.next)


@router.get("/quotes", response_model=QuotePage)
def list_quotes(request: Request, principal: Principal = PROFESSIONAL_DATA, sort: SortBy = Sort.RECEIVED_DESC,
                cursor: Cursor = None, limit: Limit = DEFAULT_PAGE) -> QuotePage:
    """The professional's quotes and PEC."""
    page = platform(request).listings.quotes(principal, sort=sort, cursor=cursor, limit=limit)
    return QuotePage(items=[QuoteItem(number=r.number, kind=r.kind, date_of_care=r.date_of_care, amc=str(r.amc_total),
                                      valid_until=r.valid_until, created_at=r.created_at) for r in page.rows],
                     next=page.next)


@router.get("/payment-runs", response_model=RunPage, responses=NOT_FOUND)
def list_payment_runs(request: Request, principal: Principal = INSURER_SIDE,
                      amc_number: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
                      cursor: Cursor = None, limit: Limit = DEFAULT_PAGE) -> RunPage:
    """The insurer's payment runs, newest first."""
    page = platform(request).listings.payment_runs(principal, amc_number=amc_number, cursor=cursor, limit=limit)
    return RunPage(items=[RunItem(id=r.id, created_at=r.created_at, order_count=r.order_count, total=str(r.total))
                          for r in page.rows], next=page.next)
