"""Lists (docs/PRODUCT.md, "Who uses it"): a professional's quotes and invoices, an insurer's
invoices received and payment runs -- keyset pages with filters and a sort, scoped to the
caller (a professional sees its own, an insurer's operator its insurer's), no personal data in
the request or the rows, and each row of a page on the transparency log like any read of it.

A cursor is opaque to clients: the last row's key, base64url. Rows added while a client pages
come after the ones it started from in reception order, so no row is read twice or skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, Protocol, TypeVar

from tierspayant.audit.events import AccessEvent, Category, Tag
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number, parse_rpps
from tierspayant.security.encoding import b64url_decode, b64url_encode
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.list_records import InvoiceFilter, InvoiceRow, Key, QuoteRow, RunRow, Sort
from tierspayant.services.ports import HasLists, HasLog, HasProfessionals, HasReference


class ListingsStore(HasLists, HasLog, HasProfessionals, HasReference, Protocol):
    """The ports this use case works with (services/ports/)."""


R = TypeVar("R")
DEFAULT_PAGE, MAX_PAGE = 50, 200


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    rows: list[R]
    #: The cursor of the next page, None on the last one.
    next: str | None


def encode_cursor(key: Key, sort: Sort) -> str:
    day = key.date_of_care.isoformat() if key.date_of_care and sort.by_date else ""
    return b64url_encode(f"1:{sort.value}:{key.id}:{day}".encode())


def decode_cursor(cursor: str | None, sort: Sort) -> Key | None:
    """The key a cursor carries; one made for another sort (or another list's) is refused."""
    if cursor is None:
        return None
    refused = InvalidField("cursor", "not a cursor of this list and sort (pass back the previous page's 'next')")
    try:
        version, made_for, ident, day = b64url_decode(cursor).decode("ascii").split(":")
        key = Key(int(ident), date.fromisoformat(day) if day else None)
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if version != "1" or made_for != sort.value or key.id < 1 or (sort.by_date and key.date_of_care is None):
        raise refused
    return key


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"between 1 and {MAX_PAGE}")
    return limit


def _page(rows: Sequence[R], limit: int, key: Key | None, sort: Sort) -> Page[R]:
    """``rows``: up to ``limit + 1`` fetched, the extra one only saying a next page exists."""
    return Page(list(rows[:limit]), encode_cursor(key, sort) if len(rows) > limit and key is not None else None)


class ListingsService(UseCase[ListingsStore]):
    def _events(self, principal: Principal, tag: Tag, rows: Sequence[InvoiceRow | QuoteRow], purpose: str,
                categories: tuple[Category, ...]) -> list[AccessEvent]:
        now = self.clock.now()
        return [self.recorder.event(principal, now, tag, categories=categories, purpose=purpose,
                                    insurer_id=r.insurer_id, beneficiary_id=r.beneficiary_id,
                                    ref=r.invoice_number if isinstance(r, InvoiceRow) else r.number) for r in rows]

    def invoices(self, principal: Principal, *, status: InvoiceStatus | None = None, care_from: date | None = None,
                 care_to: date | None = None, rpps: str | None = None, sort: Sort = Sort.RECEIVED_DESC,
                 cursor: str | None = None, limit: int = DEFAULT_PAGE) -> Page[InvoiceRow]:
        """A professional's own invoices, or an insurer operator's insurer's (``rpps``: one
        professional's only)."""
        limit, after = _limit(limit), decode_cursor(cursor, sort)
        if care_from is not None and care_to is not None and care_to < care_from:
            raise InvalidField("care_to", "before care_from")
        insurer_id = professional_id = None
        if principal.role is Role.PROFESSIONAL and principal.professional_id is not None:
            if rpps is not None:
                raise InvalidField("rpps", "a professional lists its own invoices")
            professional_id = principal.professional_id
        elif principal.role is Role.INSURER_OPERATOR and principal.insurer_id is not None:
            insurer_id = principal.insurer_id
        else:
            raise Forbidden("professionals and insurers' operators")
        with self.uow() as tx:
            if rpps is not None:  # one professional's invoices to this insurer
                professional = tx.professionals.professional_by_rpps(parse_rpps(rpps))
                if professional is None:
                    return Page([], None)
                professional_id = professional.id
            where = InvoiceFilter(insurer_id, professional_id, status, care_from, care_to)
            rows = tx.lists.invoices(where, sort, after, limit + 1)
            shown = rows[:limit]
            tx.log.append_events(self._events(principal, Tag.INVOICE_READ, shown, "tiers payant: list invoices",
                                              (Category.COVERAGE, Category.PAYMENT)))
        return _page(rows, limit, Key(shown[-1].id, shown[-1].date_of_care) if shown else None, sort)

    def quotes(self, principal: Principal, *, sort: Sort = Sort.RECEIVED_DESC, cursor: str | None = None,
               limit: int = DEFAULT_PAGE) -> Page[QuoteRow]:
        """A professional's own quotes and PEC."""
        limit, after = _limit(limit), decode_cursor(cursor, sort)
        if principal.role is not Role.PROFESSIONAL or principal.professional_id is None:
            raise Forbidden("professionals only")
        with self.uow() as tx:
            rows = tx.lists.quotes(principal.professional_id, sort, after, limit + 1)
            shown = rows[:limit]
            tx.log.append_events(self._events(principal, Tag.QUOTE_READ, shown, "tiers payant: list quotes",
                                              (Category.COVERAGE, Category.HEALTH)))
        return _page(rows, limit, Key(shown[-1].id, shown[-1].date_of_care) if shown else None, sort)

    def payment_runs(self, principal: Principal, *, amc_number: str | None = None, cursor: str | None = None,
                     limit: int = DEFAULT_PAGE) -> Page[RunRow]:
        """An insurer's payment runs, newest first (totals only: no personal data)."""
        limit, after = _limit(limit), decode_cursor(cursor, Sort.RECEIVED_DESC)
        with self.uow(readonly=True) as tx:
            if principal.role is Role.INSURER_OPERATOR and principal.insurer_id is not None and amc_number is None:
                insurer_id = principal.insurer_id
            elif amc_number is not None and principal.role in (Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN):
                insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
                if insurer is None or not principal.may_see_insurer(insurer.id):
                    raise NotFound()
                insurer_id = insurer.id
            else:
                raise Forbidden("insurers' operators (a platform admin names the insurer)")
            rows = tx.lists.payment_runs(insurer_id, after, limit + 1)
        return _page(rows, limit, Key(rows[limit - 1].id) if len(rows) > limit else None, Sort.RECEIVED_DESC)
