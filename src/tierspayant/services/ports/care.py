"""The ports of the care flow: reference data, professionals, beneficiaries and their rights,
presence proofs, claims, payments and bank details (contracts: ``services/ports/__init__.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from tierspayant.detection.budgets import ProoflessDay
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.contracts import Contract
from tierspayant.domain.payments import PayableInvoice
from tierspayant.domain.reference import ItemKind, ReferenceCode
from tierspayant.domain.renewal import LastPurchases, Parts
from tierspayant.services.records import (
    BankChange,
    Beneficiary,
    ContainmentScope,
    Engagement,
    Insurer,
    Invoice,
    Organisation,
    PaymentOrderRecord,
    PaymentRun,
    Professional,
    Quote,
    RightsPeriod,
)


class ReferenceData(Protocol):
    """Insurers, their contracts, and the dated reference codes (LPP, CCAM, NGAP, CIP)."""

    def insurer_by_amc(self, amc_number: str) -> Insurer | None:
        """The insurer with this AMC number, or None. May be served from a short-lived cache
        (insurers change a few times a year); a new insurer is seen at once."""
        ...

    def insurer(self, insurer_id: int) -> Insurer | None:
        """The insurer with this id, or None."""
        ...

    def add_insurer(self, amc_number: str, name: str, engagement_validity_days: int, pec_validity_days: int) -> int:
        """A new insurer's id. Raises ``Conflict("amc_number")`` when the number exists."""
        ...

    def contract(self, contract_id: int) -> Contract | None:
        """The contract with this id, or None."""
        ...

    def contract_id_by_code(self, insurer_id: int, code: str) -> int | None:
        """The id of the insurer's contract with this code, or None."""
        ...

    def contracts_of(self, insurer_id: int) -> list[Contract]:
        """The insurer's contracts, by code (an insurer has tens, not thousands)."""
        ...

    def add_contract(self, insurer_id: int, contract: Contract) -> int:
        """A new contract's id. Raises ``Conflict("code")`` when the insurer already has this code."""
        ...

    def reference_codes(self, codes: Sequence[str], kinds: Sequence[ItemKind] = ()) -> list[ReferenceCode]:
        """Every dated row of the given codes, and of the given kinds (all periods, any order);
        the caller picks the one valid at its date. Unknown codes are simply absent."""
        ...

    def set_review_rules(self, insurer_id: int, config: Mapping[str, Any]) -> None:
        """Replace the insurer's manual review settings (domain/review.py); cached copies of the
        insurer expire within their time to live."""
        ...

    def add_reference_code(self, row: ReferenceCode) -> None:
        """Add one dated row (periods of one code do not overlap: the caller's rule)."""
        ...


class Professionals(Protocol):
    """Professionals, their organisations and the care networks joining them to insurers."""

    def professional(self, professional_id: int) -> Professional | None:
        """The professional (names and bank details opened), or None."""
        ...

    def professional_by_rpps(self, rpps: str) -> Professional | None:
        """The professional with this RPPS number, or None."""
        ...

    def professional_by_number(self, organisation_id: int, rpps: str | None, adeli: str | None) -> Professional | None:
        """The organisation's professional with this RPPS (or, when ``rpps`` is None, this ADELI)
        number, or None -- a professional of another organisation is None too."""
        ...

    def organisation_id(self, identifier: str) -> int | None:
        """The id of the organisation with this FINESS or SIRET number, or None."""
        ...

    def add_organisation(self, organisation: Organisation) -> int:
        """A new organisation's id (``organisation.id`` is ignored). Raises
        ``Conflict("identifier")`` when its number exists."""
        ...

    def add_professional(self, professional: Professional) -> int:
        """A new professional's id (``professional.id`` is ignored; name and IBAN are sealed
        with the platform's key). Raises ``Conflict("rpps")`` when the RPPS exists."""
        ...

    def network_caps(self, professional_id: int, insurer_id: int, at: date) -> dict[str, Decimal]:
        """Lowest negotiated price cap per code over the networks joining this professional
        and this insurer, counting only the memberships and caps in force on ``at`` (the date
        of care; periods include both their days), empty when none is."""
        ...


class Beneficiaries(Protocol):
    """Insurers' members and their rights periods; identity fields are sealed at rest and found
    by blind index, never by a scan."""

    def beneficiaries_by_nir(self, insurer_id: int, nir: str) -> list[Beneficiary]:
        """The insurer's beneficiaries holding this NIR (a family shares one), possibly none.
        Beneficiaries whose insurer's keys were shredded are not found."""
        ...

    def beneficiaries_by_member(self, insurer_id: int, member_number: str) -> list[Beneficiary]:
        """The insurer's beneficiaries with this member number (the member and its dependants),
        found by blind index, exact match only; those whose keys were shredded are absent."""
        ...

    def ids_of_insurer(self, insurer_id: int) -> Iterator[int]:
        """Every beneficiary id of the insurer, ascending, streamed (breach response maps the
        log's pseudonyms back to people: services/incident_exports.py)."""
        ...

    def beneficiary(self, beneficiary_id: int) -> Beneficiary | None:
        """The beneficiary, or None (also when its insurer's keys were shredded)."""
        ...

    def add_beneficiary(self, beneficiary: Beneficiary) -> int:
        """A new beneficiary's id (``beneficiary.id`` is ignored). The caller checks for
        duplicates (same NIR, member number and rank)."""
        ...

    def rights_periods(self, beneficiary_id: int) -> list[RightsPeriod]:
        """The beneficiary's rights periods, in insertion order (possibly none)."""
        ...

    def beneficiaries_with_rights(self, insurer_id: int, nir: str) -> list[tuple[Beneficiary, list[RightsPeriod]]]:
        """The insurer's beneficiaries holding this NIR, each with its rights periods, in one
        lookup (the rights check's). Finding nobody costs the same work as finding somebody
        (docs/THREATS.md T3: no timing oracle)."""
        ...

    def add_rights_period(self, beneficiary_id: int, period: RightsPeriod) -> None:
        """Add a rights period to an existing beneficiary."""
        ...

    def last_optical_purchases(self, beneficiary_id: int, before: date) -> LastPurchases:
        """The latest reimbursed frame and lenses delivered on or before ``before``."""
        ...

    def forget_optical_purchase(self, invoice_id: int) -> None:
        """The equipment an invoice recorded was not paid after all (rejected on review, cancelled
        or replaced): it starts no renewal period."""
        ...

    def add_optical_purchase(self, beneficiary_id: int, delivered_on: date, invoice_id: int | None,
                             parts: Parts = Parts.EQUIPMENT) -> None:
        """Record a reimbursed delivery of ``parts`` (it starts their renewal period, domain/renewal.py)."""
        ...


class PresenceLedger(Protocol):
    """What makes presence proofs single-use and bounds proof-less checks (docs/THREATS.md T2)."""

    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        """Consume a presence proof's nonce for this professional: True the first time, False
        (nothing written) whenever it was already used, by anyone. Atomic under concurrent
        writers and safe inside a group commit (no savepoint)."""
        ...

    # -- proof-less budgets (detection/budgets.py): a holder is an account or an organisation --
    def proofless_known(self, scope: ContainmentScope, holder_id: int, subject: str, since: date) -> bool:
        """Whether the holder already checked ``subject`` without a proof on ``since`` or later."""
        ...

    def proofless_days(self, scope: ContainmentScope, holder_id: int, since: date) -> list[ProoflessDay]:
        """The holder's counters from ``since`` on (at most 30 rows, any order; later days
        included: the tally ignores them)."""
        ...

    def count_proofless(self, scope: ContainmentScope, holder_id: int, subject: str, day: date,
                        organisation_id: int | None = None) -> None:
        """``subject`` checked without a proof on ``day``: remembered, and counted once in the
        day's ``admitted`` if it was not known. ``organisation_id``: an account's organisation.
        Exact under concurrent writers (their transactions are serialised)."""
        ...

    def add_proofless_engagement(self, engagement_id: int, account_id: int, organisation_id: int | None,
                                 day: date) -> None:
        """An engagement answered to a proof-less check counted on ``day`` (for the account, and for
        ``organisation_id`` unless None), awaiting its follow-up."""
        ...

    def follow_up(self, engagement_id: int) -> bool:
        """An invoice followed this engagement: the first time, its counted day's ``followed``
        goes up by one for the account (and the organisation), and ``quoted`` down by one if it
        had been quoted; True then, False when it was not proof-less or was already followed."""
        ...

    def quoted(self, engagement_id: int) -> bool:
        """A PEC was requested from this engagement: the first time, its counted day's
        ``quoted`` goes up by one (account and organisation); True then, else False."""
        ...

    def driving_accounts(self, organisation_id: int, since: date, until: date, minimum: int) -> list[int]:
        """The organisation's accounts with at least ``minimum`` unfollowed proof-less patients
        between ``since`` and ``until`` (both included) and at most one in ten of their proof-less
        patients invoiced or quoted: the accounts that drove its counts, in id order."""
        ...

    def purge_proofless(self, before: date) -> int:
        """Forget memories and counters older than ``before``; how many rows went."""
        ...


class Claims(Protocol):
    """Engagements (rights-check answers), quotes and PEC, invoices."""

    def add_engagement(self, engagement: Engagement, created_at: datetime) -> int:
        """A new engagement's id (``engagement.id`` is ignored). Numbers carry 80 random bits: a
        collision is an error, not a ``Conflict``."""
        ...

    def engagement_by_number(self, number: str) -> Engagement | None:
        """The engagement with this number, or None."""
        ...

    def engagement_by_id(self, engagement_id: int) -> Engagement | None:
        """The engagement with this id, or None."""
        ...

    def add_quote(self, quote: Quote, created_at: datetime) -> int:
        """A new quote's id (``quote.id`` ignored; its result is sealed with the insurer's key).
        Raises ``Conflict("number")`` when the number exists."""
        ...

    def quote_by_number(self, number: str) -> Quote | None:
        """The quote with this number, or None (also when its insurer's keys were shredded)."""
        ...

    def invoice_by_number(self, professional_id: int, invoice_number: str) -> Invoice | None:
        """The professional's invoice with this number, or None."""
        ...

    def care_key_used(self, care_key: str) -> bool:
        """True when an invoice that still bills its care (``InvoiceStatus.bills_the_care``: not
        rejected, cancelled or replaced) bills this one (beneficiary, date, codes)."""
        ...

    def invoice_by_id(self, invoice_id: int) -> Invoice | None:
        """The invoice with this id, or None."""
        ...

    def change_invoice_status(self, invoice_id: int, expected: Sequence[InvoiceStatus], status: InvoiceStatus,
                              at: datetime, by: int | None = None, decision: str | None = None) -> bool:
        """Move an unpaid invoice whose status is one of ``expected`` to ``status`` (a conditional
        update: False, and nothing written, when it was paid or moved meanwhile); ``by`` and
        ``decision``: the reviewing operator's account and decision code, when a review."""
        ...

    def add_invoice(self, invoice: Invoice) -> int:
        """A new invoice's id (``invoice.id`` ignored; lines and findings sealed). Raises
        ``Conflict("invoice_number")`` when (professional, number) exists."""
        ...


class Payments(Protocol):
    """Payment runs, their orders (one per professional) and remittance statements."""

    def payable_invoices(self, insurer_id: int) -> list[PayableInvoice]:
        """Approved or partially approved invoices of the insurer not yet in a payment order,
        oldest first."""
        ...

    def add_payment_run(self, insurer_id: int, created_at: datetime) -> int:
        """A new, empty run's id."""
        ...

    def add_payment_order(self, run_id: int, professional_id: int, amount: Decimal, end_to_end_id: str,
                          statement: Mapping[str, Any]) -> int:
        """A new order's id in an existing run. Raises ``Conflict("end_to_end_id")`` when the id exists."""
        ...

    def attach_invoices(self, invoice_ids: Sequence[int], order_id: int) -> list[int]:
        """Attach each invoice still unpaid to ``order_id`` and mark it paid -- atomically,
        invoice by invoice: an invoice already attached to another order is skipped. Returns
        the ids attached. This is what guarantees that no invoice is ever paid twice, even with
        concurrent runs."""
        ...

    def set_payment_order(self, order_id: int, amount: Decimal, statement: Mapping[str, Any]) -> None:
        """Replace an existing order's amount and statement."""
        ...

    def delete_payment_order(self, order_id: int) -> None:
        """Remove an order that ended up with no invoice (a no-op when absent)."""
        ...

    def finish_payment_run(self, run_id: int, order_count: int, total: Decimal, sepa_xml: str | None) -> None:
        """Record an existing run's totals and its SEPA file (sealed)."""
        ...

    def payment_run(self, run_id: int) -> PaymentRun | None:
        """The run, or None (also when its insurer's keys were shredded)."""
        ...

    def payment_orders(self, run_id: int) -> list[PaymentOrderRecord]:
        """The run's orders, in creation order."""
        ...

    def payment_orders_of_professional(self, professional_id: int) -> list[PaymentOrderRecord]:
        """The professional's orders, newest first."""
        ...

    def payment_order(self, order_id: int) -> PaymentOrderRecord | None:
        """The order, or None."""
        ...


class BankDetails(Protocol):
    """Changes of a professional's bank details (effective after a delay) and their notices."""

    def add_bank_change(self, professional_id: int, iban: str, bic: str, requested_at: datetime,
                        effective_at: datetime, requested_by: int) -> int:
        """A new pending change's id (the IBAN sealed with the platform's key)."""
        ...

    def bank_changes(self, professional_id: int) -> list[BankChange]:
        """The professional's changes, oldest first (cancelled and applied ones included)."""
        ...

    def cancel_bank_change(self, professional_id: int, change_id: int) -> bool:
        """Cancel one of the professional's changes not yet applied; False (nothing written)
        when there is none such (another professional's change included)."""
        ...

    def apply_due_bank_changes(self, professional_id: int, at: datetime) -> None:
        """Make the latest due, uncancelled change the professional's bank details, and mark
        every due change applied (a no-op when none is due)."""
        ...

    def add_notification(self, professional_id: int, kind: str, text: str, at: datetime) -> None:
        """Queue a notice to the professional (no personal data in ``text`` beyond theirs)."""
        ...

    def notifications_of(self, professional_id: int) -> list[tuple[str, str, datetime]]:
        """(kind, text, created at) of the professional's notices, oldest first."""
        ...
