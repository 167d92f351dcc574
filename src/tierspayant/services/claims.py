"""Invoices (Inter-AMC DRE): idempotent on (professional, invoice number), adjudicated by the
pure rules of ``domain.adjudication``, stored with their decision in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from tierspayant.audit.events import AccessEvent, Category, Tag
from tierspayant.detection.signals import Action
from tierspayant.domain.adjudication import (
    Decision,
    InvoiceFacts,
    InvoiceLineFacts,
    InvoiceStatus,
    PecFacts,
    adjudicate,
)
from tierspayant.domain.calculation import LineResult, QuoteLine
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.reference import CareCategory, ItemKind
from tierspayant.domain.renewal import Parts
from tierspayant.domain.review import ReviewRules, draw_of, review_reason
from tierspayant.security.digests import content_digest
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.announcements import announce_invoice
from tierspayant.services.calculation import CalculationStore, CareFacts, ReadCounted, compute_for, own_engagement
from tierspayant.services.common import check_date_of_care, require_professional
from tierspayant.services.detection import PARIS
from tierspayant.services.ports import Conflict, HasDestinations, HasOutbox
from tierspayant.services.records import Invoice, Quote


class ClaimsStore(CalculationStore, HasDestinations, HasOutbox, Protocol):
    """The ports this use case works with (services/ports/), the calculation's included, and
    the outbox's: an invoice's messages are written with it (services/announcements.py)."""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line: QuoteLine
    amc_claimed: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    invoice_number: str
    date_of_care: date
    lines: tuple[InvoiceLine, ...]
    engagement_number: str | None = None
    pec_number: str | None = None
    facts: CareFacts = field(default_factory=CareFacts)

    def fingerprint(self) -> str:
        """Identifies the request's content: the same invoice sent twice is the same invoice."""
        payload = {
            "n": self.invoice_number, "d": self.date_of_care.isoformat(), "e": self.engagement_number,
            "p": self.pec_number, "f": self.facts.fingerprint(),
            "l": [[x.line.code, str(x.line.price), x.line.quantity, x.line.lens_type, str(x.line.sph),
                   str(x.line.cyl), str(x.amc_claimed)] for x in self.lines],
        }
        return content_digest(json.dumps(payload, sort_keys=True, default=str).encode())


@dataclass(frozen=True, slots=True)
class InvoiceResult:
    invoice: Invoice
    replayed: bool


class ClaimsService(ReadCounted[ClaimsStore]):
    def _record(self, principal: Principal, tag: Tag, invoice: Invoice, purpose: str) -> AccessEvent:
        return self.recorder.event(principal, self.clock.now(), tag, categories=(Category.COVERAGE, Category.HEALTH,
                                   Category.PAYMENT), purpose=purpose, insurer_id=invoice.insurer_id,
                                   beneficiary_id=invoice.beneficiary_id, ref=invoice.invoice_number)

    def _checked(self, request: InvoiceRequest) -> datetime:
        if not request.lines:
            raise InvalidField("lines", "at least one line")
        if (request.engagement_number is None) == (request.pec_number is None):
            raise InvalidField("engagement_number", "give exactly one of engagement_number or pec_number")
        now = self.clock.now()
        # The day of care is a day in France: at 00:30 in Paris (23:30 UTC) a care given since
        # midnight is today's, not tomorrow's (found by the delivery drill run after midnight).
        today = now.astimezone(PARIS).date()
        check_date_of_care(request.date_of_care, today)
        if request.date_of_care > today:
            raise InvalidField("date_of_care", "an invoice is for care already given")
        return now

    def submit(self, principal: Principal, request: InvoiceRequest) -> InvoiceResult:
        professional_id = require_professional(principal)
        now = self._checked(request)
        fingerprint = request.fingerprint()
        with self.uow() as tx:
            result, action = self._submit(tx, principal, professional_id, request, fingerprint, now)
        self.detection.refuse(action)  # an invoice is a read too (detection.observe_read)
        assert result is not None
        return result

    def _submit(self, tx: ClaimsStore, principal: Principal, professional_id: int, request: InvoiceRequest,
                fingerprint: str, now: datetime, replaces: int | None = None) -> tuple[InvoiceResult | None, Action]:
        existing = tx.claims.invoice_by_number(professional_id, request.invoice_number)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Conflict("invoice_number", "already used for a different invoice")
            action = self.count_read(tx, principal, existing.insurer_id, existing.engagement_id)
            if action is not Action.NONE:
                return None, action
            tx.log.append_events([self._record(principal, Tag.INVOICE_READ, existing, "tiers payant: invoice replay")])
            return InvoiceResult(existing, replayed=True), action
        invoice = self._adjudicate(tx, professional_id, request, fingerprint, now, replaces)
        action = self.count_read(tx, principal, invoice.insurer_id, invoice.engagement_id)
        if action is not Action.NONE:
            return None, action
        try:
            invoice_id = tx.claims.add_invoice(invoice)
        except Conflict:
            # A concurrent request with the same number won the race (its row is visible now):
            # the same invoice gets the first answer, another one the conflict.
            winner = tx.claims.invoice_by_number(professional_id, request.invoice_number)
            if winner is None or winner.fingerprint != fingerprint:
                raise Conflict("invoice_number", "already used for a different invoice") from None
            tx.log.append_events([self._record(principal, Tag.INVOICE_READ, winner, "tiers payant: invoice replay")])
            return InvoiceResult(winner, replayed=True), action
        # The check that gave the engagement is followed: it leaves the proof-less budgets'
        # "unfollowed" count (detection/budgets.py). Only an invoice follows a check: a quote
        # costs a scraper one more request, an invoice is a claim the insurer pays and the
        # patient sees on their statement -- unless it is rejected.
        if invoice.status.bills_the_care:
            tx.presence.follow_up(invoice.engagement_id)
        if invoice.status.bills_the_care and invoice.category is CareCategory.OPTICAL:
            # The renewal period runs from the last reimbursed delivery of each element (LPP).
            self._record_delivery(tx, invoice.beneficiary_id, request.date_of_care, invoice_id, invoice.lines)
        stored = tx.claims.invoice_by_number(professional_id, request.invoice_number)
        assert stored is not None
        tx.log.append_events([self._record(principal, Tag.INVOICE_CREATE, stored, "tiers payant: invoice")])
        announce_invoice(tx, "invoice.adjudicated", stored, now)
        return InvoiceResult(stored, replayed=False), action

    def _adjudicate(self, tx: ClaimsStore, professional_id: int, request: InvoiceRequest, fingerprint: str,
                    now: datetime, replaces: int | None = None) -> Invoice:
        pec: Quote | None = None
        if request.pec_number is not None:
            pec = tx.claims.quote_by_number(request.pec_number)
            if pec is None or pec.professional_id != professional_id or pec.kind != "pec" or not pec.result["binding"]:
                raise InvalidField("pec_number", "unknown pre-authorisation")
            found = tx.claims.engagement_by_id(pec.engagement_id)
            if found is None:
                raise InvalidField("pec_number", "unknown pre-authorisation")
            engagement = found
        else:
            assert request.engagement_number is not None
            try:
                engagement = own_engagement(tx, request.engagement_number, professional_id)
            except NotFound:
                raise InvalidField("engagement_number", "unknown engagement") from None
        lines = tuple(x.line for x in request.lines)
        calc = compute_for(tx, engagement, lines, request.date_of_care, request.facts)
        codes = sorted(line.code for line in lines)
        care_key = content_digest(f"{engagement.beneficiary_id}|{request.date_of_care}|{','.join(codes)}".encode())
        covered = any(p.covers(request.date_of_care, engagement.category)
                      for p in tx.beneficiaries.rights_periods(engagement.beneficiary_id))
        valid_until = pec.valid_until if pec is not None else engagement.valid_until
        facts = InvoiceFacts(
            date_of_care=request.date_of_care,
            lines=tuple(InvoiceLineFacts(x.line.code, x.line.price, x.amc_claimed) for x in request.lines),
            calculation=calc,
            reference_found=True,
            reference_valid_until=valid_until,
            covered_at_date_of_care=covered,
            category_matches=True,  # price_lines refused any code of another category
            duplicate_of_other_invoice=tx.claims.care_key_used(care_key),
            pec=PecFacts(valid_until=pec.valid_until or request.date_of_care, codes=tuple(pec.result["codes"]),
                         line_amc=tuple(Decimal(x["amc"]) for x in pec.result["lines"])) if pec else None,
        )
        decision = adjudicate(facts)
        insurer = tx.reference.insurer(engagement.insurer_id)
        # The insurer's manual review (domain/review.py): drawn from the content digest, so the
        # same invoice is drawn the same way; payable only once an operator approves it.
        waits = review_reason(ReviewRules.from_config(dict(insurer.review or {}) if insurer else None),
                              decision.status.payable, decision.approved, draw_of(fingerprint))
        return Invoice(
            id=0, insurer_id=engagement.insurer_id, professional_id=professional_id,
            invoice_number=request.invoice_number, beneficiary_id=engagement.beneficiary_id,
            engagement_id=engagement.id, quote_id=pec.id if pec else None, date_of_care=request.date_of_care,
            category=engagement.category, fingerprint=fingerprint, care_key=care_key,
            lines=_lines_record(request, calc.lines, decision), claimed_amc=sum(
                (x.amc_claimed for x in request.lines), Decimal("0.00")),
            approved_amc=decision.approved, status=InvoiceStatus.IN_REVIEW if waits else decision.status,
            findings=[{"code": f.reason.code, "reason": f.reason.name, "line": f.line} for f in decision.findings],
            payment_order_id=None, created_at=now, review_reason=waits.value if waits else None, replaces_id=replaces,
        )

    @staticmethod
    def _record_delivery(tx: ClaimsStore, beneficiary_id: int, delivered_on: date, invoice_id: int,
                         lines: Sequence[Mapping[str, Any]]) -> None:
        """Record the elements this invoice reimbursed: a frame or lenses refused for their period
        (paid by neither the AMO nor the AMC) start no new period (domain/renewal.py)."""
        kinds = {r.code: r.kind for r in tx.reference.reference_codes(sorted({str(x["code"]) for x in lines}))}
        paid = {kinds.get(str(x["code"])) for x in lines
                if Decimal(str(x["amo"])) > 0 or Decimal(str(x["amc_approved"])) > 0}
        frame, lenses = ItemKind.FRAME in paid, ItemKind.LENS in paid
        if frame or lenses:
            tx.beneficiaries.add_optical_purchase(beneficiary_id, delivered_on, invoice_id, Parts.of(frame, lenses))

    def _withdraw(self, tx: ClaimsStore, principal: Principal, invoice_number: str, status: InvoiceStatus,
                  now: datetime) -> Invoice:
        """Cancel or replace an unpaid invoice of the professional's (conditional: a payment run
        that attached it first wins); the equipment it recorded no longer starts a renewal."""
        invoice = tx.claims.invoice_by_number(require_professional(principal), invoice_number)
        if invoice is None:
            raise NotFound()
        allowed = [s for s in InvoiceStatus if s.withdrawable] + ([InvoiceStatus.REJECTED]
                                                                  if status is InvoiceStatus.REPLACED else [])
        if not tx.claims.change_invoice_status(invoice.id, allowed, status, now, by=principal.account_id):
            raise Conflict("invoice_number", f"it is {invoice.status.value}: only an unpaid invoice is "
                                             f"{'replaced' if status is InvoiceStatus.REPLACED else 'cancelled'}")
        if invoice.category is CareCategory.OPTICAL:
            tx.beneficiaries.forget_optical_purchase(invoice.id)
        return invoice

    def cancel(self, principal: Principal, invoice_number: str) -> Invoice:
        """Withdraw an unpaid invoice (approved, or waiting for review): it is never paid."""
        now = self.clock.now()
        with self.uow() as tx:
            invoice = self._withdraw(tx, principal, invoice_number, InvoiceStatus.CANCELLED, now)
            tx.log.append_events([self._record(principal, Tag.INVOICE_CANCEL, invoice, "tiers payant: cancel an invoice")])
            cancelled = tx.claims.invoice_by_id(invoice.id)
            assert cancelled is not None
            announce_invoice(tx, "invoice.withdrawn", cancelled, now)
        return cancelled

    def replace(self, principal: Principal, invoice_number: str, request: InvoiceRequest) -> InvoiceResult:
        """A corrected invoice under a new number, referencing the original, which is REPLACED
        in the same transaction: of the two, only the replacement can be paid."""
        professional_id = require_professional(principal)
        now = self._checked(request)
        if request.invoice_number == invoice_number:
            raise InvalidField("invoice_number", "a replacement takes a new number")
        with self.uow() as tx:
            if tx.claims.invoice_by_number(professional_id, request.invoice_number) is not None:
                raise Conflict("invoice_number", "already used")
            original = self._withdraw(tx, principal, invoice_number, InvoiceStatus.REPLACED, now)
            result, action = self._submit(tx, principal, professional_id, request, request.fingerprint(), now,
                                          replaces=original.id)
            if result is None:  # detection refused the read: the original stands as it was
                tx.claims.change_invoice_status(original.id, [InvoiceStatus.REPLACED], original.status, now)
                if original.status.bills_the_care and original.category is CareCategory.OPTICAL:
                    self._record_delivery(tx, original.beneficiary_id, original.date_of_care, original.id,
                                          original.lines)
            else:
                tx.log.append_events([self._record(principal, Tag.INVOICE_REPLACE, original,
                                                   "tiers payant: replace an invoice")])
                withdrawn = tx.claims.invoice_by_id(original.id)
                assert withdrawn is not None
                announce_invoice(tx, "invoice.withdrawn", withdrawn, now)
        self.detection.refuse(action)
        assert result is not None
        return result

    def get(self, principal: Principal, invoice_number: str) -> Invoice:
        professional_id = require_professional(principal)
        with self.uow() as tx:
            invoice = tx.claims.invoice_by_number(professional_id, invoice_number)
            if invoice is None:
                raise NotFound()
            action = self.count_read(tx, principal, invoice.insurer_id, invoice.engagement_id)
            if action is Action.NONE:
                tx.log.append_events([self._record(principal, Tag.INVOICE_READ, invoice, "tiers payant: read an invoice")])
        self.detection.refuse(action)
        return invoice


def _lines_record(request: InvoiceRequest, computed: Sequence[LineResult], decision: Decision) -> list[dict[str, Any]]:
    out = []
    for index, (item, line, approved) in enumerate(zip(request.lines, computed, decision.approved_lines, strict=True)):
        reasons = [f.reason.code for f in decision.findings if f.line == index]
        out.append({
            "code": item.line.code, "price": str(item.line.price),
            "quantity": item.line.quantity, "amc_claimed": str(item.amc_claimed), "amo": str(line.amo),
            "amc_computed": str(line.amc), "amc_approved": str(approved), "reasons": reasons,
        })
    return out
