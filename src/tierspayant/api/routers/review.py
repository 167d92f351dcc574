"""Manual review (services/review.py): an insurer's review settings and its operators'
decisions. The queue itself is a list: ``GET /v1/invoices?status=in_review&sort=received``."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tierspayant.api.auth import INSURER_DATA, INSURER_SIDE
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.routers.care import invoice_out
from tierspayant.api.schemas import InvoiceResponse, ObjectId, Reference, Strict, decimals
from tierspayant.domain.review import ReviewDecision, ReviewRules
from tierspayant.security.policy import Principal

router = APIRouter(prefix="/v1", tags=["review"])
DECISIONS = tuple(d.value for d in ReviewDecision)


class ReviewRulesIn(Strict):
    sampling_rate: Annotated[Decimal, decimals(0, 1, 4, examples=["0.10"],
                                               description="Share of payable invoices drawn for review")]
    amc_above: Annotated[Decimal | None, decimals(0, 1_000_000, 2, nullable=True, examples=["500.00"],
                                                  description="Every invoice above this AMC amount waits")] = None


class ReviewRulesOut(BaseModel):
    sampling_rate: str
    amc_above: str | None


class DecisionIn(Strict):
    invoice_id: Annotated[int, Field(ge=1, le=2**31 - 1, description="The `id` of the invoice in the list")]
    decision: Annotated[Literal[DECISIONS], Field(  # type: ignore[valid-type]
        description="D001 approve; D101 not provided as billed, D102 documents missing or inconsistent, "
                    "D103 duplicate, D199 other: reject")]


class DecisionOut(BaseModel):
    id: int
    invoice_number: str
    status: str
    approved_amc: str
    review_decision: str | None


class ReceivedInvoiceOut(InvoiceResponse):
    id: int
    professional_id: int
    review_decision: str | None


def _rules_out(rules: ReviewRules) -> ReviewRulesOut:
    config = rules.to_config()
    return ReviewRulesOut(sampling_rate=str(config["sampling_rate"]), amc_above=config["amc_above"])


@router.get("/insurers/{amc_number}/review-rules", response_model=ReviewRulesOut, responses=NOT_FOUND)
def get_review_rules(amc_number: Reference, request: Request, principal: Principal = INSURER_SIDE) -> ReviewRulesOut:
    return _rules_out(platform(request).review.rules(principal, amc_number))


@router.put("/insurers/{amc_number}/review-rules", response_model=ReviewRulesOut, responses=NOT_FOUND)
def set_review_rules(amc_number: Reference, body: ReviewRulesIn, request: Request,
                     principal: Principal = INSURER_DATA) -> ReviewRulesOut:
    """Which invoices wait for a person, from the insurer's next invoice on (on the log)."""
    return _rules_out(platform(request).review.set_rules(principal, amc_number,
                                                         ReviewRules(body.sampling_rate, body.amc_above)))


@router.get("/insurers/{amc_number}/invoices/{invoice_id}", response_model=ReceivedInvoiceOut, responses=NOT_FOUND)
def received_invoice(amc_number: Reference, invoice_id: ObjectId, request: Request,
                     principal: Principal = INSURER_DATA) -> ReceivedInvoiceOut:
    """One invoice the insurer received, lines and findings included (the ``id`` of the list):
    what its operator reads before deciding it. On the log."""
    invoice = platform(request).review.received(principal, amc_number, invoice_id)
    return ReceivedInvoiceOut(**invoice_out(invoice).model_dump(), id=invoice.id,
                              professional_id=invoice.professional_id, review_decision=invoice.review_decision)


@router.post("/review-decisions", response_model=DecisionOut, responses={
    **NOT_FOUND, 409: {"description": "The invoice is not (or no longer) waiting for a review"}})
def decide(body: DecisionIn, request: Request, principal: Principal = INSURER_DATA) -> DecisionOut:
    """Approve (it becomes payable) or reject (it is never paid) an invoice in review."""
    invoice = platform(request).review.decide(principal, body.invoice_id, ReviewDecision(body.decision))
    return DecisionOut(id=invoice.id, invoice_number=invoice.invoice_number, status=invoice.status.value,
                       approved_amc=str(invoice.approved_amc), review_decision=invoice.review_decision)
