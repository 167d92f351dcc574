"""What each fact tells whom (services/delivery.py ``queue``), written in the fact's own
transaction. The payload is the least each destination needs (docs/THREATS.md, minimisation):

- an **insurer's** system gets an invoice's number, status, amounts, reason codes, date of care,
  the professional's numbers -- and the member number and rank of the beneficiary, which it
  needs to pay and nothing else of the person;
- an **organisation's** practice software gets its own invoice's number, status and amounts,
  and its statements, never a patient's identity (it knows whose invoice it sent);
- a **bank drop** gets the SEPA file; a **notice** to a professional its text;
- a **controller** (an insurer) of a breach gets the processor's notice (GDPR Art. 33(2)) --
  counts and categories, no person -- and word that its people's notices (Art. 34) are ready,
  with their counts; who they are comes through the controller's sealed export only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tierspayant.services.delivery import DeliveryStore, queue
from tierspayant.services.ports import HasBeneficiaries, HasProfessionals
from tierspayant.services.ports.delivery import Destination
from tierspayant.services.records import Invoice


class AnnouncingStore(DeliveryStore, HasBeneficiaries, HasProfessionals, Protocol):
    """The ports announcing a fact reads (the professional's organisation, the member number)."""


def invoice_ref(invoice_id: int) -> str:
    """The ordering key of one invoice's messages (they arrive in order)."""
    return f"invoice:{invoice_id}"


def announce_invoice(tx: AnnouncingStore, kind: str, invoice: Invoice, at: datetime) -> int:
    """An invoice adjudicated, reviewed or withdrawn: to the insurer's systems and to the
    professional's practice software."""
    professional = tx.professionals.professional(invoice.professional_id)
    organisation_id = professional.organisation_id if professional else None
    common: dict[str, Any] = {
        "invoice_id": invoice.id, "invoice_number": invoice.invoice_number, "status": invoice.status.value,
        "date_of_care": invoice.date_of_care.isoformat(), "category": invoice.category.value,
        "claimed_amc": str(invoice.claimed_amc), "approved_amc": str(invoice.approved_amc),
        "reasons": sorted({str(f.get("code")) for f in invoice.findings if f.get("code")}),
        "review_decision": invoice.review_decision,
    }
    member: dict[str, Any] = {}

    def payload(destination: Destination) -> dict[str, Any]:
        if destination.insurer_id != invoice.insurer_id:  # practice software: its own invoice only
            return common
        if not member:
            beneficiary = tx.beneficiaries.beneficiary(invoice.beneficiary_id)
            member.update({"member_number": beneficiary.member_number, "rank": beneficiary.rank} if beneficiary
                          else {"member_number": None, "rank": None})
        return {**common, "beneficiary": dict(member), "professional": {
            "rpps": professional.rpps, "adeli": professional.adeli, "am_number": professional.am_number}
            if professional else None}

    # The same fact and kind queued twice (a retried request) is one message: the ref names
    # the invoice and, for a review, its decision.
    ref = invoice_ref(invoice.id)
    return queue(tx, kind, f"{ref}:{kind}:{invoice.status.value}", at, insurer_id=invoice.insurer_id,
                 organisation_id=organisation_id, payload=payload, ordering_key=ref)


def announce_run(tx: AnnouncingStore, insurer_id: int, run_id: int, sepa_xml: str, total: Decimal, orders: int,
                 at: datetime) -> int:
    """A payment run's SEPA file, for the insurer's bank drop."""
    return queue(tx, "payment_run.created", f"run:{run_id}", at, insurer_id=insurer_id, payload=lambda _: {
        "run_id": run_id, "filename": f"pain001-RUN-{run_id}.xml", "file": sepa_xml, "total": str(total),
        "orders": orders})


def announce_statement(tx: AnnouncingStore, insurer_id: int, organisation_id: int, order_id: int,
                       statement: dict[str, Any], at: datetime) -> int:
    """A remittance statement, for the professional's organisation (no patient in it)."""
    return queue(tx, "statement.available", f"statement:{order_id}", at, organisation_id=organisation_id,
                 key_owner=insurer_id, payload=lambda _: {
                     "order_id": order_id, "run_id": statement["run_id"], "total": statement["total"],
                     "execution_date": statement["execution_date"], "end_to_end_id": statement["end_to_end_id"],
                     "invoices": statement["invoices"]})


def announce_bank_change(tx: AnnouncingStore, professional_id: int, change_id: int, text: str, at: datetime) -> int:
    """The notice of a bank-details change, on the organisation's notice channels (T7)."""
    professional = tx.professionals.professional(professional_id)
    if professional is None:
        return 0
    return queue(tx, "bank_details.change_requested", f"bank_change:{change_id}", at,
                 organisation_id=professional.organisation_id,
                 payload=lambda _: {"subject": "Tiers payant: change of your bank account", "text": text,
                                    "professional_id": professional_id})


def incident_ref(incident_id: int, insurer_id: int) -> str:
    """The ordering key of one incident's messages to one controller (they arrive in order)."""
    return f"incident:{incident_id}:{insurer_id}"


def announce_processor_notice(tx: DeliveryStore, incident_id: int, insurer_id: int, version: int,
                              body: dict[str, Any], at: datetime) -> int:
    """The processor's notice to a controller (Art. 33(2): "without undue delay"), each version."""
    ref = incident_ref(incident_id, insurer_id)
    return queue(tx, "incident.processor_notice", f"{ref}:processor_notice:{version}", at, insurer_id=insurer_id,
                 ordering_key=ref, payload=lambda _: {"incident_id": incident_id, "version": version, "notice": body})


def announce_notices(tx: DeliveryStore, incident_id: int, insurer_id: int, by_channel: dict[str, int],
                     at: datetime) -> int:
    """A controller's people's notices (Art. 34) queued: how many, per channel."""
    ref = incident_ref(incident_id, insurer_id)
    return queue(tx, "incident.notices_queued", f"{ref}:notices", at, insurer_id=insurer_id, ordering_key=ref,
                 payload=lambda _: {"incident_id": incident_id, "notices": dict(sorted(by_channel.items()))})
