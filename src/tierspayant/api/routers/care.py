"""The professional's flow: rights check (IDB), quote or PEC (CLC), invoice (DRE)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tierspayant.api.auth import PROFESSIONAL_DATA, QUOTE_READERS
from tierspayant.api.care_schemas import (
    CareFactsIn,
    EyeIn,
    InvoiceRequest,
    Line,
    LineOut,
    PrescriptionIn,
    QuoteRequest,
    QuoteResponse,
)
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.api.schemas import (
    DeliveryStateOut,
    FindingOut,
    InvoiceLineOut,
    InvoiceResponse,
    Reference,
    RightsCheckRequest,
    RightsCheckResponse,
)
from tierspayant.domain.calculation import QuoteLine
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.prescriptions import Criterion, Eye, Prescriber, Prescription, sight_change
from tierspayant.domain.renewal import EarlyRenewal, LastPurchases, RenewalGrounds
from tierspayant.security.policy import Principal
from tierspayant.services import calculation, claims, rights
from tierspayant.services.records import Invoice, Quote

router = APIRouter(prefix="/v1")


@router.post("/rights-checks", response_model=RightsCheckResponse, tags=["care"], responses={
    403: {"description": "Presence proof required (daily quota reached) or refused"}})
async def rights_check(body: RightsCheckRequest, request: Request, principal: Principal = PROFESSIONAL_DATA) -> RightsCheckResponse:
    """Is the patient covered for this care on this date? Unknown, wrong birth date and not
    covered give the same answer. (``async`` on purpose: the hot path runs inline in the worker's
    event loop, see ``api.auth.requires``.)"""
    answer = await platform(request).rights.check(principal, rights.RightsRequest(
        body.amc_number, body.member_number, body.nir, body.birth_date, body.date_of_care, body.category,
        body.presence_proof,
    ))
    return RightsCheckResponse(covered=answer.covered, engagement_number=answer.engagement_number,
                               valid_until=answer.valid_until)


def _line(line: Line) -> QuoteLine:
    return QuoteLine(line.code, line.price, line.quantity, line.lens_type, line.sph, line.cyl)


def _prescription(p: PrescriptionIn, field: str) -> Prescription:
    def eye(e: EyeIn, side: str) -> Eye:
        # A cylinder is written with its axis: an axis change is an LPP criterion of a change
        # of sight (domain/prescriptions.py), one without it could not be compared.
        if e.cylinder != 0 and e.axis is None:
            raise InvalidField(f"{field}.{side}.axis", "required with a cylinder")
        return Eye(e.sphere, e.cylinder, e.axis, e.addition)
    return Prescription(p.issued_on, p.prescriber, eye(p.right, "right"), eye(p.left, "left"))


def _renewal(facts: CareFactsIn) -> RenewalGrounds:
    """The early renewal asked for, with what the LPP asks of it (domain/renewal.py); each
    missing piece is a 422 naming its field."""
    reason, given = facts.early_renewal, facts.prescriptions
    if facts.medical_condition is not None and reason is not EarlyRenewal.MEDICAL_CONDITION:
        raise InvalidField("facts.medical_condition", "only with early_renewal 'medical_condition'")
    if reason is EarlyRenewal.MEDICAL_CONDITION and facts.medical_condition is None:
        raise InvalidField("facts.medical_condition", "required for an early renewal on a medical condition")
    if reason in (EarlyRenewal.SIGHT_CHANGE, EarlyRenewal.MEDICAL_CONDITION) and given is None:
        raise InvalidField("facts.prescriptions", f"required for an early renewal on {reason}")
    current = _prescription(given.current, "facts.prescriptions.current") if given is not None else None
    criteria: tuple[Criterion, ...] = ()
    if reason is EarlyRenewal.SIGHT_CHANGE:
        assert given is not None and current is not None
        if given.previous is None:
            raise InvalidField("facts.prescriptions.previous", "required: the change of sight is against it")
        criteria = sight_change(_prescription(given.previous, "facts.prescriptions.previous"), current)
    by_ophthalmologist = current is not None and current.prescriber is Prescriber.OPHTHALMOLOGIST
    return RenewalGrounds(reason, criteria, by_ophthalmologist, prescribed_on=current.issued_on if current else None)


def _facts(facts: CareFactsIn) -> calculation.CareFacts:
    declared, given = facts.declared_last_delivery, facts.prescriptions
    prescriptions = () if given is None else tuple(
        _prescription(p, f"facts.prescriptions.{name}")
        for name, p in (("previous", given.previous), ("current", given.current)) if p is not None)
    return calculation.CareFacts(
        renewal=_renewal(facts), medical_condition=facts.medical_condition, prescriptions=prescriptions,
        pathway=facts.pathway,
        declared=LastPurchases(declared.frame, declared.lenses) if declared else LastPurchases(),
        exemption=facts.exemption,
        pf_count_this_year=facts.pf_count_this_year,
        pf_today_with_professional=facts.pf_today_with_professional,
        franchise_ytd=facts.franchise_paid_this_year,
    )


def _quote_out(quote: Quote) -> QuoteResponse:
    r = quote.result
    return QuoteResponse(
        number=quote.number, kind=quote.kind, binding=bool(r["binding"]), valid_until=quote.valid_until,
        date_of_care=quote.date_of_care, lines=[LineOut(**line) for line in r["lines"]], amo=r["amo"], amc=r["amc"],
        patient=r["patient"], price=r["price"], equipment_category=r["equipment_category"],
        renewal_eligible_from=r["renewal_eligible_from"], frame_eligible_from=r.get("frame_eligible_from"),
        lenses_eligible_from=r.get("lenses_eligible_from"),
    )


@router.post("/quotes", response_model=QuoteResponse, status_code=201, tags=["care"], responses=NOT_FOUND)
def create_quote(body: QuoteRequest, request: Request, principal: Principal = PROFESSIONAL_DATA) -> QuoteResponse:
    """AMO/AMC/patient split of a quote: a simulation, or a binding optical pre-authorisation."""
    quote = platform(request).calculation.quote(principal, calculation.QuoteRequest(
        body.engagement_number, body.kind, tuple(_line(x) for x in body.lines), _facts(body.facts),
    ))
    return _quote_out(quote)


@router.get("/quotes/{number}", response_model=QuoteResponse, tags=["care"], responses=NOT_FOUND)
def get_quote(number: Reference, request: Request, principal: Principal = QUOTE_READERS) -> QuoteResponse:
    return _quote_out(platform(request).calculation.get(principal, number))


def _invoice_request(body: InvoiceRequest) -> claims.InvoiceRequest:
    return claims.InvoiceRequest(
        invoice_number=body.invoice_number, date_of_care=body.date_of_care,
        lines=tuple(claims.InvoiceLine(_line(x), x.amc_claimed) for x in body.lines),
        engagement_number=body.engagement_number, pec_number=body.pec_number, facts=_facts(body.facts),
    )


def invoice_out(invoice: Invoice) -> InvoiceResponse:
    return InvoiceResponse(
        invoice_number=invoice.invoice_number, status=invoice.status, date_of_care=invoice.date_of_care,
        claimed_amc=str(invoice.claimed_amc), approved_amc=str(invoice.approved_amc),
        lines=[InvoiceLineOut(**line) for line in invoice.lines],
        findings=[FindingOut(**f) for f in invoice.findings], paid=invoice.payment_order_id is not None,
        review_reason=invoice.review_reason,
    )


@router.post("/invoices", response_model=InvoiceResponse, status_code=201, tags=["care"],
             responses={200: {"description": "The same invoice was already received (idempotent replay)"},
                        409: {"description": "Invoice number already used for different content"}})
def submit_invoice(body: InvoiceRequest, request: Request, response: Response,
                   principal: Principal = PROFESSIONAL_DATA) -> InvoiceResponse:
    """Submit an invoice referencing an engagement or a PEC; it is adjudicated at once.
    Idempotent on (professional, invoice number)."""
    result = platform(request).claims.submit(principal, _invoice_request(body))
    if result.replayed:
        response.status_code = 200
    return invoice_out(result.invoice)


@router.get("/invoices/{invoice_number}", response_model=InvoiceResponse, tags=["care"], responses=NOT_FOUND)
def get_invoice(invoice_number: Reference, request: Request, principal: Principal = PROFESSIONAL_DATA) -> InvoiceResponse:
    """The invoice, and where its messages are: queued, delivered, given up."""
    p = platform(request)
    invoice = p.claims.get(principal, invoice_number)
    answer = invoice_out(invoice)
    answer.delivery = [DeliveryStateOut(kind=m.kind, to=to, state=m.state.value, attempts=m.attempts,
                                        created_at=m.created_at, sent_at=m.sent_at,
                                        acknowledged_at=m.acknowledged_at)
                       for m, to in p.delivery.of_invoice(invoice.id)]
    return answer


WITHDRAWN: Responses = {**NOT_FOUND, 409: {"description": "Paid, or already cancelled or replaced"}}


@router.post("/invoices/{invoice_number}/cancel", response_model=InvoiceResponse, tags=["care"], responses=WITHDRAWN)
def cancel_invoice(invoice_number: Reference, request: Request, principal: Principal = PROFESSIONAL_DATA) -> InvoiceResponse:
    """Withdraw an unpaid invoice (approved, or waiting for review): it will never be paid."""
    return invoice_out(platform(request).claims.cancel(principal, invoice_number))


@router.post("/invoices/{invoice_number}/replacement", response_model=InvoiceResponse, status_code=201, tags=["care"],
             responses=WITHDRAWN)
def replace_invoice(invoice_number: Reference, body: InvoiceRequest, request: Request,
                    principal: Principal = PROFESSIONAL_DATA) -> InvoiceResponse:
    """A corrected invoice under a new number; the original (unpaid, or rejected) is replaced in
    the same transaction: only the replacement can be paid."""
    result = platform(request).claims.replace(principal, invoice_number, _invoice_request(body))
    return invoice_out(result.invoice)
