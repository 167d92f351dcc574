"""The records the lists exchange with their port (``services.ports.lists``): what a list may be
filtered and sorted by, and one row of each list -- no name, no NIR, no birth date: a row names
its patient by nothing but the (internal) beneficiary id the access event is keyed by, which
never leaves the platform (docs/THREATS.md T10).

Keyset pagination: a page is the rows after a ``Key`` in the list's order, so rows added while
a client pages (with higher ids) never shift the pages it has not read yet; no offsets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.reference import CareCategory


class Sort(StrEnum):
    """A list's order: by reception (the row's id) or by date of care (then id), either way."""

    RECEIVED = "received"
    RECEIVED_DESC = "-received"
    DATE_OF_CARE = "date_of_care"
    DATE_OF_CARE_DESC = "-date_of_care"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def by_date(self) -> bool:
        return self.value.endswith("date_of_care")


@dataclass(frozen=True, slots=True)
class Key:
    """Where a page starts: after the row with this id (and this date of care, when sorted by it)."""

    id: int
    date_of_care: date | None = None


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """Which invoices: always one professional's or one insurer's (the caller's scope), then
    optionally by status, date of care and professional."""

    insurer_id: int | None = None
    professional_id: int | None = None
    status: InvoiceStatus | None = None
    care_from: date | None = None
    care_to: date | None = None


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    invoice_number: str
    insurer_id: int
    professional_id: int
    beneficiary_id: int  # for the access event only
    date_of_care: date
    category: CareCategory
    claimed_amc: Decimal
    approved_amc: Decimal
    status: InvoiceStatus
    paid: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QuoteRow:
    id: int
    number: str
    kind: str
    insurer_id: int
    professional_id: int
    beneficiary_id: int  # for the access event only
    date_of_care: date
    amc_total: Decimal
    valid_until: date | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    created_at: datetime
    order_count: int
    total: Decimal
