"""The records the use cases exchange with their ports, and the closed sets among them
(``InvoiceStatus`` is the domain's: domain/adjudication.py).

Every datetime is timezone-aware (UTC); money is ``Decimal``. A record's ``id`` is 0 before the
store assigns one (a record passed to an ``add_*`` method)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.reference import CareCategory


@dataclass(frozen=True, slots=True)
class Insurer:
    id: int
    amc_number: str
    name: str
    engagement_validity_days: int
    pec_validity_days: int
    proofless_daily_quota: int = 20
    #: Detection thresholds overriding the defaults (detection/thresholds.py), or None.
    detection: Mapping[str, Any] | None = None
    #: Breach response: the number on the members' cards (the only one a notice may give), the
    #: DPO's contact, the X25519 public key its exports are encrypted to (base64); None: not set.
    phone: str | None = None
    dpo_contact: str | None = None
    export_public_key: str | None = None
    #: Manual review settings (domain/review.py ``ReviewRules.from_config``), or None: none.
    review: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Beneficiary:
    id: int
    insurer_id: int
    contract_id: int
    member_number: str
    rank: int
    nir: str
    birth_date: date
    last_name: str
    first_name: str


@dataclass(frozen=True, slots=True)
class RightsPeriod:
    start: date
    end: date | None
    categories: frozenset[CareCategory]
    #: The contract that covers the period (a dated contract change splits a period there:
    #: services/lifecycle.py); None: the beneficiary's own ``contract_id``.
    contract_id: int | None = None

    def covers(self, at: date, category: CareCategory) -> bool:
        return self.start <= at and (self.end is None or at <= self.end) and category in self.categories


@dataclass(frozen=True, slots=True)
class Organisation:
    """A practice, pharmacy or optical shop, identified by its FINESS or SIRET number."""

    id: int
    kind: str  # FINESS | SIRET
    identifier: str
    name: str


@dataclass(frozen=True, slots=True)
class Professional:
    """A health professional paid by tiers payant (RPPS or ADELI, AM number, bank details; a
    doctor's sector and speciality: domain/tariffs.py). The API builds it, the store keeps it."""

    id: int
    organisation_id: int
    rpps: str | None
    adeli: str | None
    am_number: str
    profession: str
    name: str
    iban: str
    bic: str
    optam: bool
    sector: str | None = None
    speciality: str | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    id: int
    number: str
    insurer_id: int
    beneficiary_id: int
    professional_id: int
    category: CareCategory
    date_of_care: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class Quote:
    id: int
    number: str
    kind: str
    insurer_id: int
    beneficiary_id: int
    professional_id: int
    engagement_id: int
    date_of_care: date
    result: Mapping[str, Any]
    amc_total: Decimal
    valid_until: date | None


@dataclass(frozen=True, slots=True)
class Invoice:
    id: int
    insurer_id: int
    professional_id: int
    invoice_number: str
    beneficiary_id: int
    engagement_id: int
    quote_id: int | None
    date_of_care: date
    category: CareCategory
    fingerprint: str
    care_key: str
    lines: Sequence[Mapping[str, Any]]
    claimed_amc: Decimal
    approved_amc: Decimal
    status: InvoiceStatus
    findings: Sequence[Mapping[str, Any]]
    payment_order_id: int | None
    created_at: datetime
    #: domain/review.py: why it waits for a person (V...), and the operator's decision (D...).
    review_reason: str | None = None
    review_decision: str | None = None
    reviewed_by: int | None = None
    #: The invoice this one corrects (that one is REPLACED), and when the status last changed.
    replaces_id: int | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PaymentRun:
    id: int
    insurer_id: int
    created_at: datetime
    order_count: int
    total: Decimal
    sepa_xml: str | None


@dataclass(frozen=True, slots=True)
class PaymentOrderRecord:
    id: int
    run_id: int
    professional_id: int
    amount: Decimal
    end_to_end_id: str
    statement: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    password_hash: str
    totp_secret: str
    totp_last_step: int
    role: str
    organisation_id: int | None
    professional_id: int | None
    insurer_id: int | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    account_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked: bool
    aal: str = "password_totp"
    #: What was new when it was opened (bits of security/novelty.py: a device, a network the
    #: account had not signed in from), and the keyed fingerprint of its network.
    novelty: int = 0
    network: str | None = None
    auth_means: str | None = None  # Pro Santé Connect's authMode (CARD, MOBILE); else None


@dataclass(frozen=True, slots=True)
class Passkey:
    id: int
    account_id: int
    credential_id: str
    public_key: bytes
    sign_count: int
    created_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class BankChange:
    id: int
    professional_id: int
    iban: str
    bic: str
    requested_at: datetime
    effective_at: datetime
    cancelled: bool
    applied: bool


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One leaf of the log as stored: its index, canonical entry and RFC 9162 leaf hash."""

    seq: int
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed tree head: the tree's size and root, and the C2SP signed note."""

    size: int
    root: bytes
    created_at: datetime
    note: str


class Presentation(StrEnum):
    """What came of a presented identity, as detection counts it."""

    OK = "ok"  # matched somebody (covered or not)
    NOT_FOUND = "not_found"  # matched nobody
    REFUSED = "refused"  # no presence proof, and the day's quota is reached
    BAD_PROOF = "bad_proof"  # a proof that did not hold (expired, mistyped): counted, not held against


@dataclass(frozen=True, slots=True)
class Presented:
    """One rights check as detection counts it: who presented which identity (keyed pseudonyms)."""

    at: datetime
    account_id: int
    session_id: int
    organisation_id: int | None
    subject: str
    neighbourhood: str
    outcome: Presentation

    @property
    def counts(self) -> tuple[int, int, int]:
        """(hits, failures, refusals) this check adds to its identity's counters."""
        return (int(self.outcome is Presentation.OK), int(self.outcome is Presentation.NOT_FOUND),
                int(self.outcome is Presentation.REFUSED))


@dataclass(frozen=True, slots=True)
class SeenSubject:
    subject: str
    neighbourhood: str
    last_at: datetime
    attempts: int
    hits: int
    failures: int
    refusals: int


@dataclass(frozen=True, slots=True)
class RecentActivity:
    """Aggregates over the identities an account presented last in the past 10 minutes and hour
    (DetectionCounters.recent): what the fast signals need, read as one row."""

    identities_10min: int = 0
    failed_10min: int = 0  # of those, matched nobody so far (no hit, a failure)
    most_failures_hour: int = 0  # most failed matches on one identity
    refusals_hour: int = 0
    #: Identities in the NIR neighbourhood asked about. Sequential guessing is caught on the
    #: check that presents the neighbourhood's 4th identity (thresholds.sequential_neighbours):
    #: the neighbourhood being enumerated is the one asked about then, so the hour's busiest
    #: neighbourhood need not be read on every check (a group-by less: bench/README.md).
    my_neighbours_hour: int = 0


@dataclass(frozen=True, slots=True)
class Containment:
    id: int
    scope: ContainmentScope
    target_id: int
    action: str
    reasons: str
    created_at: datetime
    created_by: int | None  # None: automatic (detection)
    until: datetime | None  # None: until lifted
    lifted_at: datetime | None = None
    lifted_by: int | None = None

    def active(self, at: datetime) -> bool:
        return self.lifted_at is None and (self.until is None or at < self.until)


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    at: datetime
    severity: str
    containment_id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class TransferLine:
    professional_name: str
    iban: str
    bic: str
    amount: Decimal
    end_to_end_id: str
    description: str


#: The owner of the platform's own sealed data (professionals' names, bank details); any other is an insurer's id.
PLATFORM_KEY_OWNER = 0


@dataclass(frozen=True, slots=True)
class ShredRequest:
    """A crypto-shred asked for by one officer, done once a second one approves (dual control)."""

    id: int
    owner: int  # the insurer whose keys would be destroyed
    requested_by: int  # the asking officer's account
    reason: str
    requested_at: datetime  # it lapses a day later (services/keys.py)
    approved_by: int | None = None  # the second officer's account, once carried out
    approved_at: datetime | None = None


class ContainmentScope(StrEnum):
    """What a containment covers (detection's decisions and officers' kill switches)."""

    SESSION = "session"  # one session (ended at once)
    ACCOUNT = "account"  # every session of one account, old and new
    ORGANISATION = "organisation"  # every account of one organisation
    INSURER = "insurer"  # one insurer's rights checks (its route closed)


# -- breach response (services/incidents.py) ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    opened_at: datetime
    opened_by: int  # account
    aware_at: datetime  # when the operator became aware: Art. 33's 72 h run from here
    window_start: datetime
    window_end: datetime
    summary: str  # what happened, in the officer's words (never personal data)
    compromised: dict[str, Any]  # breach.scope.Compromised.to_dict()
    step: str
    scope: str | None = None  # canonical JSON of breach.scope.Scope, once computed
    scope_digest: str | None = None
    scope_checkpoint: int | None = None  # the signed checkpoint's size the scope was proved against


@dataclass(frozen=True, slots=True)
class IncidentStep:
    id: int
    incident_id: int
    step: str
    insurer_id: int | None  # a controller's own step (its CNIL notification), else None
    by_account: int
    at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class IncidentExport:
    """A controller's list of its people, sealed to its public key: requested by one officer,
    approved (and sealed) by another, downloadable once before it expires."""

    id: int
    incident_id: int
    insurer_id: int
    requested_by: int
    requested_at: datetime
    approved_by: int | None = None
    approved_at: datetime | None = None
    expires_at: datetime | None = None
    downloaded_at: datetime | None = None
