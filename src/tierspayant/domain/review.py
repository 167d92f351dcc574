"""Manual review (docs/DOMAIN.md, "Adjudication and payment"): which adjudicated invoices an
insurer's operator must decide before payment, and the codes of those decisions.

An insurer sets a sampling rate (a share of its payable invoices drawn at random) and rules
(an AMC amount above which every invoice waits). The draw is a pure function of the invoice's
content digest: the same invoice sent again is drawn the same way, and the share drawn over many
invoices is the rate. A rejected invoice needs no review (nothing would be paid); an invoice in
review is not payable until an operator approves it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from tierspayant.domain.errors import InvalidField


class ReviewReason(Enum):
    """Why an invoice waits for a person (stable codes, never reused)."""

    SAMPLED = "V001"  # drawn by the insurer's sampling rate
    AMOUNT_ABOVE = "V002"  # its AMC amount is above the insurer's review threshold


class ReviewDecision(Enum):
    """An operator's decision on an invoice in review (stable codes, never reused)."""

    APPROVED = "D001"  # pay what adjudication approved
    REJECTED_NOT_PROVIDED = "D101"  # the care or goods were not provided as billed
    REJECTED_DOCUMENTS = "D102"  # the supporting documents (prescription, invoice copy) are missing or inconsistent
    REJECTED_DUPLICATE = "D103"  # already paid under another channel or number
    REJECTED_OTHER = "D199"  # another reason, given in the decision's note

    @property
    def approves(self) -> bool:
        return self is ReviewDecision.APPROVED


@dataclass(frozen=True, slots=True)
class ReviewRules:
    sampling_rate: Decimal = Decimal("0")
    amc_above: Decimal | None = None

    @staticmethod
    def from_config(config: dict[str, Any] | None) -> ReviewRules:
        """An insurer's ``review`` settings: {"sampling_rate": "0.10", "amc_above": "500.00"}."""
        if not config:
            return ReviewRules()
        unknown = set(config) - {"sampling_rate", "amc_above"}
        if unknown:
            raise InvalidField("review", f"unknown setting {sorted(unknown)[0]}")
        try:
            rate = Decimal(str(config.get("sampling_rate", "0")))
            above = Decimal(str(config["amc_above"])) if config.get("amc_above") is not None else None
        except ArithmeticError:
            raise InvalidField("review", "sampling_rate and amc_above are decimals") from None
        if not Decimal("0") <= rate <= Decimal("1"):
            raise InvalidField("review.sampling_rate", "between 0 and 1")
        if above is not None and above < 0:
            raise InvalidField("review.amc_above", "zero or more")
        return ReviewRules(rate, above)

    def to_config(self) -> dict[str, str | None]:
        return {"sampling_rate": str(self.sampling_rate),
                "amc_above": str(self.amc_above) if self.amc_above is not None else None}


def review_reason(rules: ReviewRules, payable: bool, approved_amc: Decimal, draw: Decimal) -> ReviewReason | None:
    """Whether a just-adjudicated invoice waits for a person. ``draw``: the invoice's uniform
    number in [0, 1) (``draw_of``); ``payable``: adjudication approved some of it."""
    if not payable:
        return None
    if rules.amc_above is not None and approved_amc > rules.amc_above:
        return ReviewReason.AMOUNT_ABOVE
    if draw < rules.sampling_rate:
        return ReviewReason.SAMPLED
    return None


def draw_of(digest_hex: str) -> Decimal:
    """A number in [0, 1) from the first 64 bits of a hex digest (uniform when the digest is)."""
    return Decimal(int(digest_hex[:16], 16)) / Decimal(2**64)
