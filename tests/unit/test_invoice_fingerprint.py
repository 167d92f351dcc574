"""An invoice's fingerprint is its idempotency key (services/claims.py): a retry of an invoice
sent before the care facts existed must still be a replay, and every fact that changes the
outcome must change the key."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

from tierspayant.domain.lines import Pathway, QuoteLine
from tierspayant.domain.prescriptions import Eye, Prescriber, Prescription
from tierspayant.domain.renewal import EarlyRenewal, MedicalCondition, RenewalGrounds
from tierspayant.security.digests import content_digest
from tierspayant.services.calculation import CareFacts
from tierspayant.services.claims import InvoiceLine, InvoiceRequest

REQUEST = InvoiceRequest(invoice_number="F-1", date_of_care=date(2026, 3, 2), engagement_number="E1",
                         lines=(InvoiceLine(QuoteLine("G", Decimal("30.00")), Decimal("9.00")),))


def test_an_invoice_with_no_more_than_a_pathway_keeps_its_earlier_fingerprint() -> None:
    for pathway in Pathway:
        # The payload invoices were fingerprinted with before migration 0023 (facts: the pathway
        # and three renewal flags, all false for such a request).
        earlier = {"n": "F-1", "d": "2026-03-02", "e": "E1", "p": None, "f": [pathway.value, False, False, False],
                   "l": [["G", "30.00", 1, None, "None", "None", "9.00"]]}
        request = replace(REQUEST, facts=CareFacts(pathway=pathway))
        assert request.fingerprint() == content_digest(json.dumps(earlier, sort_keys=True, default=str).encode())


def test_every_fact_changes_the_fingerprint() -> None:
    eye = Eye(Decimal("-1.00"))
    paper = Prescription(date(2026, 2, 1), Prescriber.OPHTHALMOLOGIST, eye, eye)
    variants = [
        CareFacts(),
        CareFacts(medical_condition=MedicalCondition.GLAUCOMA),
        CareFacts(prescriptions=(paper,)),
        CareFacts(prescriptions=(replace(paper, issued_on=date(2026, 2, 2)),)),
        CareFacts(prescriptions=(replace(paper, right=Eye(Decimal("-1.00"), Decimal("-0.50"), 90)),)),
        CareFacts(renewal=RenewalGrounds(EarlyRenewal.MEDICAL_CONDITION)),
        CareFacts(pf_today_with_professional=1),
    ]
    prints = {replace(REQUEST, facts=facts).fingerprint() for facts in variants}
    assert len(prints) == len(variants)
