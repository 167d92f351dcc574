"""Adjudication of an invoice (Inter-AMC DRE): a pipeline of pure rules giving a Decision.

Rejection reasons have stable codes that are never reused nor renumbered: a code once
published keeps its meaning forever (a test pins the registry to ``tests/vectors/reasons.json``).
New reasons take the next free number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum, StrEnum

from tierspayant.domain.calculation import Calculation, Limit
from tierspayant.domain.money import ZERO


class Reason(Enum):
    """(stable code, name). Never reuse or renumber a code."""

    NOT_COVERED_AT_DATE_OF_CARE = "R001"
    REFERENCE_UNKNOWN = "R002"
    REFERENCE_EXPIRED = "R003"
    RENEWAL_PERIOD_NOT_ELAPSED = "R004"
    DUPLICATE_INVOICE = "R005"
    AMOUNT_ABOVE_PEC = "R006"
    NETWORK_PRICE_CAP = "R007"
    FRAME_CAP_100 = "R008"
    ABOVE_GUARANTEE = "R009"
    CARE_CATEGORY_MISMATCH = "R010"
    LINES_DIFFER_FROM_PEC = "R011"

    @property
    def code(self) -> str:
        return self.value


class InvoiceStatus(StrEnum):
    """Where an invoice stands: the adjudication's decision (never PAID), perhaps a review, then
    paid -- or withdrawn (cancelled, replaced) while unpaid."""

    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    PAID = "paid"
    #: Waiting for an operator's decision (domain/review.py): not payable until approved.
    IN_REVIEW = "in_review"
    #: Withdrawn by the professional before payment, or superseded by a corrected invoice.
    CANCELLED = "cancelled"
    REPLACED = "replaced"

    @property
    def payable(self) -> bool:
        return self in (InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_APPROVED)

    @property
    def withdrawable(self) -> bool:
        """Still unpaid and billing something: the professional may cancel or replace it."""
        return self in (InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_APPROVED, InvoiceStatus.IN_REVIEW)

    @property
    def bills_the_care(self) -> bool:
        """Counts against billing the same care again (R005): not rejected nor withdrawn."""
        return self not in (InvoiceStatus.REJECTED, InvoiceStatus.CANCELLED, InvoiceStatus.REPLACED)


@dataclass(frozen=True, slots=True)
class InvoiceLineFacts:
    code: str  # in its dated code table (LPP, NGAP, CIP)
    price: Decimal  # as billed
    claimed_amc: Decimal  # what the professional asks of the insurer


@dataclass(frozen=True, slots=True)
class PecFacts:
    """The binding pre-authorisation the invoice refers to."""

    valid_until: date
    codes: tuple[str, ...]
    line_amc: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """Everything the rules need, gathered by the claims use case."""

    date_of_care: date
    lines: tuple[InvoiceLineFacts, ...]
    calculation: Calculation
    reference_found: bool
    reference_valid_until: date | None
    covered_at_date_of_care: bool
    category_matches: bool
    duplicate_of_other_invoice: bool
    pec: PecFacts | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    reason: Reason
    line: int | None = None  # None: the whole invoice


@dataclass(frozen=True, slots=True)
class Decision:
    status: InvoiceStatus
    approved_lines: tuple[Decimal, ...]
    findings: tuple[Finding, ...]

    @property
    def approved(self) -> Decimal:
        return sum(self.approved_lines, ZERO)


# -- whole-invoice rules: any finding rejects the invoice ------------------------------------

Rule = Callable[[InvoiceFacts], list[Finding]]


def rule_reference(facts: InvoiceFacts) -> list[Finding]:
    """The engagement or PEC exists, belongs to this professional and beneficiary, and the care
    falls within its validity (the engagement guarantees payment only within it)."""
    if not facts.reference_found:
        return [Finding(Reason.REFERENCE_UNKNOWN)]
    if facts.reference_valid_until is not None and facts.date_of_care > facts.reference_valid_until:
        return [Finding(Reason.REFERENCE_EXPIRED)]
    return []


def rule_coverage(facts: InvoiceFacts) -> list[Finding]:
    return [] if facts.covered_at_date_of_care else [Finding(Reason.NOT_COVERED_AT_DATE_OF_CARE)]


def rule_category(facts: InvoiceFacts) -> list[Finding]:
    return [] if facts.category_matches else [Finding(Reason.CARE_CATEGORY_MISMATCH)]


def rule_duplicate(facts: InvoiceFacts) -> list[Finding]:
    """Same beneficiary, same date of care, same codes already invoiced under another number."""
    return [Finding(Reason.DUPLICATE_INVOICE)] if facts.duplicate_of_other_invoice else []


def rule_renewal(facts: InvoiceFacts) -> list[Finding]:
    return [Finding(Reason.RENEWAL_PERIOD_NOT_ELAPSED)] if facts.calculation.renewal_refused else []


def rule_pec_lines(facts: InvoiceFacts) -> list[Finding]:
    if facts.pec is None:
        return []
    codes = tuple(line.code for line in facts.lines)
    return [] if codes == facts.pec.codes else [Finding(Reason.LINES_DIFFER_FROM_PEC)]


WHOLE_INVOICE_RULES: tuple[Rule, ...] = (
    rule_reference, rule_coverage, rule_category, rule_duplicate, rule_renewal, rule_pec_lines,
)

_LIMIT_REASONS = {
    Limit.RENEWAL_PERIOD_NOT_ELAPSED: Reason.RENEWAL_PERIOD_NOT_ELAPSED,  # one element inside its period
    Limit.FRAME_CAP_100: Reason.FRAME_CAP_100,
    Limit.NETWORK_PRICE_CAP: Reason.NETWORK_PRICE_CAP,
}


def adjudicate(facts: InvoiceFacts, rules: Sequence[Rule] = WHOLE_INVOICE_RULES) -> Decision:
    """Run the whole-invoice rules, then cap each line: approved = min(claimed, computed AMC
    share, PEC amount). Approved is never above claimed."""
    findings = [finding for rule in rules for finding in rule(facts)]
    if findings:
        return Decision(InvoiceStatus.REJECTED, tuple(ZERO for _ in facts.lines), tuple(findings))
    approved: list[Decimal] = []
    for index, (line, computed) in enumerate(zip(facts.lines, facts.calculation.lines, strict=True)):
        amount = min(line.claimed_amc, computed.amc)
        if computed.amc < line.claimed_amc:
            reasons = [_LIMIT_REASONS[limit] for limit in computed.limits if limit in _LIMIT_REASONS]
            findings.extend(Finding(reason, index) for reason in reasons or [Reason.ABOVE_GUARANTEE])
        if facts.pec is not None and facts.pec.line_amc[index] < amount:
            amount = facts.pec.line_amc[index]
            findings.append(Finding(Reason.AMOUNT_ABOVE_PEC, index))
        approved.append(amount)
    total_claimed = sum((line.claimed_amc for line in facts.lines), ZERO)
    total = sum(approved, ZERO)
    if total == total_claimed:
        status = InvoiceStatus.APPROVED
    elif total == 0:
        status = InvoiceStatus.REJECTED
    else:
        status = InvoiceStatus.PARTIALLY_APPROVED
    return Decision(status, tuple(approved), tuple(findings))
