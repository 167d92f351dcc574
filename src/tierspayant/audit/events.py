"""Access events: who read or wrote whose personal data, which categories, why, with what
outcome (docs/THREATS.md, transparency log). Tags are ``source:subject:action`` (docs/ARCHITECTURE.md
principle 9). The canonical bytes of an event are the Merkle leaf entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """Data categories, as an Art. 33 notification counts them."""

    IDENTITY = "identity"  # name, birth date, NIR, member number
    COVERAGE = "coverage"  # rights, contract, engagement
    HEALTH = "health"  # acts, optical prescriptions and purchases, amounts of care
    PAYMENT = "payment"  # invoices, payment orders
    BANK = "bank"  # a professional's bank details


class Outcome(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"  # nothing matched (no personal data disclosed)
    REFUSED = "refused"


class Tag(StrEnum):
    RIGHTS_CHECK = "rights:beneficiary:read"
    QUOTE_CREATE = "calculation:quote:create"
    QUOTE_READ = "calculation:quote:read"
    INVOICE_CREATE = "claims:invoice:create"
    INVOICE_READ = "claims:invoice:read"
    INVOICE_CANCEL = "claims:invoice:cancel"  # withdrawn by the professional before payment
    INVOICE_REPLACE = "claims:invoice:replace"  # superseded by a corrected invoice
    INVOICE_REVIEW = "claims:invoice:review"  # an insurer's operator decided it
    REVIEW_RULES = "claims:review_rules:update"
    PAYMENT_RUN = "payments:run:create"
    PAYMENT_RUN_READ = "payments:run:read"
    STATEMENT_READ = "payments:statement:read"
    BENEFICIARY_CREATE = "reference:beneficiary:create"
    BENEFICIARY_UPDATE = "reference:beneficiary:update"
    # Care networks (services/networks.py): who changed which agreement, dated.
    NETWORK_CREATE = "reference:network:create"
    NETWORK_MEMBER_UPDATE = "reference:network_member:update"  # a membership added or ended
    PRICE_CAP_UPDATE = "reference:price_cap:update"  # a negotiated price set or ended
    BENEFICIARY_READ = "reference:beneficiary:read"  # an insurer's operator found a member (services/lifecycle.py)
    BENEFICIARY_END = "reference:beneficiary:end"  # radiation: rights ended at a date
    CONTAINMENT = "detection:containment:create"
    CONTAINMENT_LIFT = "detection:containment:lift"
    # Key management (services/keys.py): the operations an insider could abuse, on the log.
    KEY_ROTATE = "keys:data_key:rotate"  # a new version takes writes
    KEY_RETIRE = "keys:data_key:retire"  # the rotation done, old versions deleted
    KEY_SHRED_REQUEST = "keys:data_key:shred_request"  # one officer asks
    KEY_SHRED = "keys:data_key:shred"  # a second officer approves: keys destroyed
    # Onboarding and account lifecycle (services/onboarding.py): who gave which access.
    ORGANISATION_CREATE = "accounts:organisation:create"
    ACCOUNT_CREATE = "accounts:account:create"
    ACCOUNT_ENROLMENT = "accounts:enrolment_code:create"
    ACCOUNT_DISABLE = "accounts:account:disable"
    ACCOUNT_ENABLE = "accounts:account:enable"
    ACCOUNT_ROLE = "accounts:role:update"
    ACCOUNTS_READ = "accounts:account:read"
    # Breach response (services/incidents.py).
    INCIDENT_OPEN = "incidents:incident:create"
    INCIDENT_SCOPE = "incidents:scope:create"
    INCIDENT_STEP = "incidents:step:create"
    INCIDENT_REPORT = "incidents:report:create"
    INCIDENT_NOTICES = "incidents:notices:create"
    INCIDENT_EXPORT_REQUEST = "incidents:export:request"
    INCIDENT_EXPORT_APPROVE = "incidents:export:approve"
    INCIDENT_EXPORT_DOWNLOAD = "incidents:export:read"
    # The log's own months moved out to files and back (services/log_archive.py).
    LOG_ARCHIVE = "audit:archive:create"
    LOG_RESTORE = "audit:archive:restore"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    at: datetime
    tag: Tag
    account_id: int | None
    organisation_id: int | None
    professional_id: int | None
    #: Keyed pseudonym of the beneficiary (never the NIR, never the database id), or None.
    beneficiary: str | None
    insurer_id: int | None
    categories: tuple[Category, ...]
    purpose: str
    outcome: Outcome
    request_id: str
    #: Object references useful for scope queries (engagement, invoice or run number...).
    ref: str | None = None
    #: The session the request came with: an incident may declare one session stolen
    #: (breach/scope.py). Absent from the entry when None (events logged before it existed).
    session_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at.isoformat(), "tag": self.tag.value, "account": self.account_id,
            "organisation": self.organisation_id, "professional": self.professional_id,
            "beneficiary": self.beneficiary, "insurer": self.insurer_id,
            "categories": [c.value for c in self.categories], "purpose": self.purpose,
            "outcome": self.outcome.value, "request": self.request_id, "ref": self.ref,
        }
        if self.session_id is not None:
            out["session"] = self.session_id
        return out

    def canonical(self) -> bytes:
        """The leaf entry: compact JSON with sorted keys (one byte string per event)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_canonical(cls, data: bytes) -> AccessEvent:
        raw = json.loads(data)
        return cls(
            at=datetime.fromisoformat(raw["at"]), tag=Tag(raw["tag"]), account_id=raw["account"],
            organisation_id=raw["organisation"], professional_id=raw["professional"],
            beneficiary=raw["beneficiary"], insurer_id=raw["insurer"],
            categories=tuple(Category(c) for c in raw["categories"]), purpose=raw["purpose"],
            outcome=Outcome(raw["outcome"]), request_id=raw["request"], ref=raw["ref"], session_id=raw.get("session"),
        )
