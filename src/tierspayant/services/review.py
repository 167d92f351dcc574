"""Manual review (domain/review.py): an insurer sets which invoices wait for a person (a sampling
rate, an amount above which every invoice waits); its operators decide them with a stable code;
an invoice in review is not paid until approved, and a rejected one never is. The queue is the
insurer's list of invoices in review (``GET /v1/invoices?status=in_review``, services/listings.py)."""

from __future__ import annotations

from typing import Protocol

from tierspayant.audit.events import Category, Tag
from tierspayant.detection.signals import Action
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.identifiers import parse_amc_number
from tierspayant.domain.reference import CareCategory
from tierspayant.domain.review import ReviewDecision, ReviewRules
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.announcements import announce_invoice
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.detection import DetectionService, DetectionStore
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import (
    Clock,
    Conflict,
    HasBeneficiaries,
    HasClaims,
    HasDestinations,
    HasOutbox,
    HasProfessionals,
    UnitOfWork,
)
from tierspayant.services.records import Insurer, Invoice


class ReviewStore(DetectionStore, HasClaims, HasBeneficiaries, HasProfessionals, HasDestinations, HasOutbox,
                  Protocol):
    """The ports this use case works with (services/ports/)."""


class ReviewService(UseCase[ReviewStore]):
    def __init__(self, uow: UnitOfWork[ReviewStore], clock: Clock, recorder: Recorder,
                 detection: DetectionService) -> None:
        super().__init__(uow, clock, recorder)
        self.detection = detection

    def _insurer(self, tx: ReviewStore, principal: Principal, amc_number: str) -> Insurer:
        insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
        if insurer is None or not principal.may_see_insurer(insurer.id):
            raise NotFound()
        return insurer

    def rules(self, principal: Principal, amc_number: str) -> ReviewRules:
        with self.uow(readonly=True) as tx:
            return ReviewRules.from_config(dict(self._insurer(tx, principal, amc_number).review or {}))

    def set_rules(self, principal: Principal, amc_number: str, rules: ReviewRules) -> ReviewRules:
        """The insurer's sampling rate and threshold, from its next invoice on (on the log)."""
        checked = ReviewRules.from_config(dict(rules.to_config()))
        with self.uow() as tx:
            insurer = self._insurer(tx, principal, amc_number)
            tx.reference.set_review_rules(insurer.id, checked.to_config())
            tx.log.append_events([self.recorder.event(
                principal, self.clock.now(), Tag.REVIEW_RULES, categories=(), insurer_id=insurer.id,
                purpose=f"claims: review rules (rate {checked.sampling_rate}, above {checked.amc_above})")])
        return checked

    def received(self, principal: Principal, amc_number: str, invoice_id: int) -> Invoice:
        """One invoice the insurer received, with its lines, for the operator who decides it (an
        access event: acts and amounts are health data). Another insurer's, or a missing one,
        is NotFound; only insurers' operators read them (the operator's staff has no need)."""
        if principal.role is not Role.INSURER_OPERATOR:
            raise Forbidden("insurers' operators only")
        with self.uow() as tx:
            insurer = self._insurer(tx, principal, amc_number)
            invoice = tx.claims.invoice_by_id(invoice_id)
            if invoice is None or invoice.insurer_id != insurer.id:
                raise NotFound()
            # A read of the patient's care, counted like a quote or an invoice by its professional
            # (docs/THREATS.md, "Quotes and invoices are reads"): ids are sequential.
            action = self.detection.observe_read(tx, principal, insurer, invoice.engagement_id, self.clock.now())
            if action is Action.NONE:
                tx.log.append_events([self.recorder.event(
                    principal, self.clock.now(), Tag.INVOICE_READ, categories=(Category.HEALTH, Category.PAYMENT),
                    purpose="insurer: read a received invoice", insurer_id=insurer.id,
                    beneficiary_id=invoice.beneficiary_id, ref=invoice.invoice_number)])
        self.detection.refuse(action)
        return invoice

    def decide(self, principal: Principal, invoice_id: int, decision: ReviewDecision) -> Invoice:
        """An operator's decision on an invoice in review: approved, it is payable at the amount
        adjudication approved; rejected, it is never paid. Another insurer's invoice, or one
        that does not exist, is NotFound; one not (or no longer) in review is a Conflict."""
        if principal.role is not Role.INSURER_OPERATOR:
            raise Forbidden("insurers' operators only")
        now = self.clock.now()
        with self.uow() as tx:
            invoice = tx.claims.invoice_by_id(invoice_id)
            if invoice is None or not principal.may_see_insurer(invoice.insurer_id):
                raise NotFound()
            if invoice.status is not InvoiceStatus.IN_REVIEW:
                raise Conflict("invoice_id", f"not waiting for a review (it is {invoice.status.value})")
            status = (InvoiceStatus.REJECTED if not decision.approves
                      else InvoiceStatus.APPROVED if invoice.approved_amc == invoice.claimed_amc
                      else InvoiceStatus.PARTIALLY_APPROVED)
            if not tx.claims.change_invoice_status(invoice.id, (InvoiceStatus.IN_REVIEW,), status, now,
                                                   by=principal.account_id, decision=decision.value):
                raise Conflict("invoice_id", "decided meanwhile")
            if status is InvoiceStatus.REJECTED and invoice.category is CareCategory.OPTICAL:
                tx.beneficiaries.forget_optical_purchase(invoice.id)  # a refused equipment starts no renewal period
            tx.log.append_events([self.recorder.event(
                principal, now, Tag.INVOICE_REVIEW, categories=(Category.COVERAGE, Category.PAYMENT),
                purpose=f"claims: review decision {decision.value}", insurer_id=invoice.insurer_id,
                beneficiary_id=invoice.beneficiary_id, ref=invoice.invoice_number)])
            decided = tx.claims.invoice_by_id(invoice.id)
            assert decided is not None
            announce_invoice(tx, "invoice.reviewed", decided, now)
        return decided
