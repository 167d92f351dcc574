"""Lists (``services/listings.py``): pages of a professional's or an insurer's invoices, quotes
and payment runs, in keyset order (``services/list_records.py``)."""

from __future__ import annotations

from typing import Protocol

from tierspayant.services.list_records import InvoiceFilter, InvoiceRow, Key, QuoteRow, RunRow, Sort


class Lists(Protocol):
    """Pages read in one statement each; never an offset, never a count of the whole list."""

    def invoices(self, where: InvoiceFilter, sort: Sort, after: Key | None, limit: int) -> list[InvoiceRow]:
        """Up to ``limit`` invoices matching ``where``, in ``sort`` order, strictly after
        ``after`` (None: from the start). Ties on the date of care are broken by id."""
        ...

    def quotes(self, professional_id: int, sort: Sort, after: Key | None, limit: int) -> list[QuoteRow]:
        """Up to ``limit`` of the professional's quotes (simulations and PEC), as ``invoices``."""
        ...

    def payment_runs(self, insurer_id: int, after: Key | None, limit: int) -> list[RunRow]:
        """Up to ``limit`` of the insurer's payment runs, newest first, strictly before ``after``."""
        ...
