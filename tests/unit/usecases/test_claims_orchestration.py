"""Claims' orchestration over fakes: a PEC binds the invoice, an invoice is idempotent and its
number is never reused for other content, the same care is never billed twice, a paid
equipment starts the renewal period."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.usecases.conftest import Stack
from tests.unit.usecases.test_rights_rules import check, request
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.calculation import QuoteLine
from tierspayant.domain.optics import LensType
from tierspayant.domain.renewal import Parts
from tierspayant.services.calculation import QuoteRequest
from tierspayant.services.claims import InvoiceLine, InvoiceRequest
from tierspayant.services.ports import Conflict

GLASSES = (QuoteLine("9100102", Decimal("120.00")),
           QuoteLine("9100301", Decimal("90.00"), lens_type=LensType.UNIFOCAL, sph=Decimal("-2.00")),
           QuoteLine("9100301", Decimal("90.00"), lens_type=LensType.UNIFOCAL, sph=Decimal("-2.25"), cyl=Decimal("-0.5")))


def pec(stack: Stack, patient: dict[str, Any]) -> tuple[str, list[Decimal]]:
    engagement = check(stack, request(patient, stack.clock.now().date())).engagement_number
    assert engagement is not None
    quote = stack.calculation.quote(stack.professional(), QuoteRequest(engagement, "pec", GLASSES))
    assert quote.result["binding"] is True and quote.valid_until is not None
    return quote.number, [Decimal(line["amc"]) for line in quote.result["lines"]]


def invoice(stack: Stack, number: str, pec_number: str, amounts: list[Decimal]) -> InvoiceRequest:
    return InvoiceRequest(number, stack.clock.now().date(),
                          tuple(InvoiceLine(line, amc) for line, amc in zip(GLASSES, amounts, strict=True)),
                          pec_number=pec_number)


def test_an_invoice_is_idempotent_and_its_number_is_never_reused(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[0])
    first = stack.claims.submit(stack.professional(), invoice(stack, "F-1", number, amounts))
    assert first.replayed is False and first.invoice.status is InvoiceStatus.APPROVED
    assert first.invoice.approved_amc == sum(amounts)
    again = stack.claims.submit(stack.professional(), invoice(stack, "F-1", number, amounts))
    assert again.replayed is True and again.invoice.id == first.invoice.id
    with pytest.raises(Conflict) as raised:
        stack.claims.submit(stack.professional(), invoice(stack, "F-1", number, [a - 1 for a in amounts]))
    assert raised.value.field == "invoice_number"
    assert len(stack.uow.state.invoices) == 1


def test_a_claim_above_the_pec_is_cut_to_it(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[1])
    result = stack.claims.submit(stack.professional(), invoice(stack, "F-2", number, [a + 5 for a in amounts]))
    assert result.invoice.status is InvoiceStatus.PARTIALLY_APPROVED
    assert result.invoice.approved_amc == sum(amounts) < result.invoice.claimed_amc


def test_the_same_care_is_never_billed_twice(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[2])
    assert stack.claims.submit(stack.professional(), invoice(stack, "F-3", number, amounts)).invoice.status.payable
    twice = stack.claims.submit(stack.professional(), invoice(stack, "F-3bis", number, amounts))
    assert twice.invoice.status is InvoiceStatus.REJECTED and twice.invoice.approved_amc == 0
    assert stack.uow.state.purchases[stack.patients[2]["id"]] == [(stack.clock.now().date(), Parts.EQUIPMENT)]  # one equipment


def test_a_paid_equipment_starts_the_renewal_period(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[3])
    stack.claims.submit(stack.professional(), invoice(stack, "F-4", number, amounts))
    stack.clock.advance(days=30)
    engagement = check(stack, request(stack.patients[3], stack.clock.now().date())).engagement_number
    assert engagement is not None
    again = stack.calculation.quote(stack.professional(), QuoteRequest(engagement, "pec", GLASSES))
    assert again.result["binding"] is False and again.result["renewal_eligible_from"] is not None
