"""An invoice's life over fakes: a professional cancels an unpaid one or replaces it with a
corrected one (never both paid), the insurer's sampling rate and threshold send invoices to a
person, none is paid before its decision and a rejected one never is; a run with nothing to pay
is not created."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.usecases.conftest import Stack
from tests.unit.usecases.test_claims_orchestration import invoice, pec
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.review import ReviewDecision, ReviewRules
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Conflict

AMC = "990000011"


def operator(stack: Stack, insurer_id: int | None = None) -> Principal:
    return Principal(500, 0, Role.INSURER_OPERATOR, insurer_id=insurer_id or stack.insurer_id, request_id="test",
                     aal="passkey")


def test_a_cancelled_invoice_is_never_paid_and_frees_its_care(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[0])
    sent = stack.claims.submit(stack.professional(), invoice(stack, "F-C1", number, amounts)).invoice
    cancelled = stack.claims.cancel(stack.professional(), "F-C1")
    assert cancelled.status is InvoiceStatus.CANCELLED
    with pytest.raises(Conflict):
        stack.claims.cancel(stack.professional(), "F-C1")  # once
    assert stack.payments.preview(operator(stack)).orders == []
    with pytest.raises(Conflict) as nothing:
        stack.payments.run(operator(stack))  # nothing to pay: no run is created
    assert nothing.value.field == "amc_number"
    # The same care can be invoiced again under a new number: the cancelled one no longer counts.
    again = stack.claims.submit(stack.professional(), invoice(stack, "F-C2", number, amounts)).invoice
    assert again.status.payable and again.id != sent.id


def test_a_replacement_references_the_original_and_only_one_is_paid(stack: Stack) -> None:
    number, amounts = pec(stack, stack.patients[1])
    stack.claims.submit(stack.professional(), invoice(stack, "F-R1", number, [a - 1 for a in amounts]))
    corrected = stack.claims.replace(stack.professional(), "F-R1", invoice(stack, "F-R2", number, amounts))
    assert corrected.invoice.replaces_id is not None and corrected.invoice.status.payable
    original = stack.claims.get(stack.professional(), "F-R1")
    assert original.status is InvoiceStatus.REPLACED and corrected.invoice.replaces_id == original.id
    with pytest.raises(Conflict):  # a replaced invoice is replaced once
        stack.claims.replace(stack.professional(), "F-R1", invoice(stack, "F-R3", number, amounts))
    run = stack.payments.run(operator(stack))
    paid = [i["invoice_number"] for o in run.orders for i in o.statement["invoices"]]
    assert paid == ["F-R2"]
    with pytest.raises(Conflict):  # paid: neither cancelled nor replaced any more
        stack.claims.cancel(stack.professional(), "F-R2")
    with pytest.raises(NotFound):
        stack.claims.cancel(stack.professional(), "F-NONE")


def test_sampled_invoices_wait_for_a_decision_and_a_rejected_one_is_never_paid(stack: Stack) -> None:
    stack.review.set_rules(operator(stack), AMC, ReviewRules(Decimal("1"), None))  # every invoice
    with pytest.raises(Forbidden):
        stack.review.decide(stack.professional(), 1, ReviewDecision.APPROVED)
    sent = []
    for n, patient in enumerate(stack.patients[2:5]):
        number, amounts = pec(stack, patient)
        sent.append(stack.claims.submit(stack.professional(), invoice(stack, f"F-V{n}", number, amounts)).invoice)
    assert [i.status for i in sent] == [InvoiceStatus.IN_REVIEW] * 3 and sent[0].review_reason == "V001"
    with pytest.raises(Conflict):
        stack.payments.run(operator(stack))  # nothing payable before a decision
    approved = stack.review.decide(operator(stack), sent[0].id, ReviewDecision.APPROVED)
    rejected = stack.review.decide(operator(stack), sent[1].id, ReviewDecision.REJECTED_DOCUMENTS)
    assert approved.status is InvoiceStatus.APPROVED and approved.review_decision == "D001"
    assert rejected.status is InvoiceStatus.REJECTED and rejected.review_decision == "D102"
    with pytest.raises(Conflict):
        stack.review.decide(operator(stack), sent[1].id, ReviewDecision.APPROVED)  # decided once
    with pytest.raises(NotFound):  # another insurer's operator: as if it did not exist
        stack.review.decide(operator(stack, stack.insurer_id + 1), sent[2].id, ReviewDecision.APPROVED)
    run = stack.payments.run(operator(stack))
    assert [i["invoice_number"] for o in run.orders for i in o.statement["invoices"]] == ["F-V0"]
    # Above the threshold, always a person; below it with no sampling, none.
    number, amounts = pec(stack, stack.patients[5])
    stack.review.set_rules(operator(stack), AMC, ReviewRules(Decimal("0"), sum(amounts) - Decimal("0.01")))
    above = stack.claims.submit(stack.professional(), invoice(stack, "F-V9", number, amounts)).invoice
    assert above.status is InvoiceStatus.IN_REVIEW and above.review_reason == "V002"
    number, amounts = pec(stack, stack.patients[6])
    stack.review.set_rules(operator(stack), AMC, ReviewRules(Decimal("0"), sum(amounts)))
    at_it = stack.claims.submit(stack.professional(), invoice(stack, "F-V10", number, amounts)).invoice
    assert at_it.status is InvoiceStatus.APPROVED and at_it.review_reason is None
