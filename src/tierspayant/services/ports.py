"""What the use cases need from the outside world, and the records they exchange.

Contracts (every implementation keeps them):

- A ``UnitOfWork`` call opens one transaction. Leaving the ``with`` block normally commits;
  an exception rolls everything back, so a use case never leaves a half-written record.
- Getters named ``find_*`` / ``*_by_*`` return None when nothing matches; they never raise for a
  missing row. Writers raise ``Conflict`` when a uniqueness rule is broken (nothing is written).
- Every datetime crossing a port is timezone-aware (UTC); money is ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from tierspayant.audit.events import AccessEvent
from tierspayant.domain.contracts import Contract
from tierspayant.domain.payments import PayableInvoice
from tierspayant.domain.reference import CareCategory, ReferenceCode


class Conflict(Exception):
    """A uniqueness rule would be broken (e.g. an invoice number reused with other content)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LogUnavailable(Exception):
    """The access events of a unit of work could not be recorded: the unit of work was rolled
    back, so the access they describe did not happen either (fail closed)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


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

    def covers(self, at: date, category: CareCategory) -> bool:
        return self.start <= at and (self.end is None or at <= self.end) and category in self.categories


@dataclass(frozen=True, slots=True)
class Professional:
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
    status: str
    findings: Sequence[Mapping[str, Any]]
    payment_order_id: int | None
    created_at: datetime


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
    seq: int
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    created_at: datetime
    note: str


class AuditRepository(Protocol):
    """The transparency log's storage (part of every unit of work, so that an access and its
    event commit together or not at all: fail closed)."""

    def append_events(self, events: Sequence[AccessEvent]) -> None:
        """Record events, in order, in this unit of work: they get contiguous leaf indexes and
        commit with it, or not at all (fail closed)."""
        ...
    def log_size(self) -> int: ...
    def events(self, start: int, end: int) -> list[StoredEvent]:
        """Events with start <= seq < end, in order (a missing seq is simply absent)."""
        ...
    def events_page(self, start: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with seq >= start, in order (gaps are not filled)."""
        ...
    def leaf_hashes(self, start: int, end: int) -> list[bytes]: ...
    def node_hashes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored perfect-subtree hashes by (level, idx); absent ones are left out."""
        ...
    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None: ...
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    def checkpoint_at(self, size: int) -> StoredCheckpoint | None: ...
    def checkpoints(self) -> list[StoredCheckpoint]: ...
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """False (nothing written) when a checkpoint of this size exists."""
        ...
    def add_cosignature(self, size: int, witness: str, signature_line: str, at: datetime) -> None: ...
    def cosignatures(self, size: int) -> list[str]: ...
    def events_of_beneficiary(self, pseudonym: str) -> list[StoredEvent]: ...
    def events_of_actor(self, *, account_id: int | None, organisation_id: int | None, start: datetime,
                        end: datetime) -> list[StoredEvent]: ...


class Presentation(StrEnum):
    """What came of a presented identity, as detection counts it."""

    OK = "ok"  # matched somebody (covered or not)
    NOT_FOUND = "not_found"  # matched nobody
    REFUSED = "refused"  # no presence proof, and the day's quota is reached
    BAD_PROOF = "bad_proof"  # a proof that did not hold (expired, mistyped): counted, not held against


@dataclass(frozen=True, slots=True)
class Presented:
    """One rights check, as detection counts it: who presented which identity (keyed
    pseudonyms, never a NIR) and what came of it."""

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
class Containment:
    id: int
    scope: str  # session | account | organisation | insurer
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


class DetectionRepository(Protocol):
    def record_presented(self, presented: Presented) -> None:
        """Count one rights check for (account, subject): upsert, safe under concurrent writers."""

    def seen_by_account(self, account_id: int, since: datetime) -> list[SeenSubject]:
        """The identities the account presented since ``since`` (as many as distinct patients)."""

    def organisation_distinct(self, organisation_id: int, since: Sequence[datetime]) -> tuple[int, ...]:
        """Distinct identities presented by the organisation's accounts since each instant."""

    def contained_accounts_of_organisation(self, organisation_id: int, since: datetime) -> int: ...
    def add_containment(self, containment: Containment) -> int: ...
    def containments(self, *, active_at: datetime | None = None, limit: int = 200) -> list[Containment]:
        """Newest first; only those active at ``active_at`` when given."""

    def lift_containment(self, containment_id: int, by: int, at: datetime) -> bool:
        """False when there is no such containment or it was already lifted."""

    def add_alert(self, at: datetime, severity: str, containment_id: int | None, text: str) -> int: ...
    def alerts(self, limit: int = 200) -> list[Alert]: ...
    def purge_seen(self, before: datetime) -> int: ...


class Repositories(AuditRepository, DetectionRepository, Protocol):
    """Everything a use case reads or writes, inside one transaction."""

    # -- reference data -------------------------------------------------------------------
    def insurer_by_amc(self, amc_number: str) -> Insurer | None: ...
    def insurer(self, insurer_id: int) -> Insurer | None: ...
    def add_insurer(self, amc_number: str, name: str, engagement_validity_days: int, pec_validity_days: int) -> int:
        """Raises Conflict("amc_number") when the number exists."""
        ...
    def contract(self, contract_id: int) -> Contract | None: ...
    def contract_id_by_code(self, insurer_id: int, code: str) -> int | None: ...
    def add_contract(self, insurer_id: int, contract: Contract) -> int:
        """Raises Conflict("code") when the insurer already has this code."""
        ...
    def reference_codes(self, codes: Sequence[str]) -> list[ReferenceCode]:
        """Every dated row of the given codes (all periods); the caller picks the valid one."""
        ...
    def add_reference_code(self, row: ReferenceCode) -> None: ...

    # -- beneficiaries -------------------------------------------------------------------
    def beneficiaries_by_nir(self, insurer_id: int, nir: str) -> list[Beneficiary]: ...
    def beneficiary(self, beneficiary_id: int) -> Beneficiary | None: ...
    def add_beneficiary(self, beneficiary: Beneficiary) -> int:
        """``beneficiary.id`` is ignored; returns the new id."""
        ...
    def rights_periods(self, beneficiary_id: int) -> list[RightsPeriod]: ...
    def beneficiaries_with_rights(self, insurer_id: int, nir: str) -> list[tuple[Beneficiary, list[RightsPeriod]]]:
        """The insurer's beneficiaries holding this NIR, each with its rights periods, in one
        lookup (the rights check's)."""
        ...
    def add_rights_period(self, beneficiary_id: int, period: RightsPeriod) -> None: ...
    def last_optical_purchase(self, beneficiary_id: int, before: date) -> date | None:
        """The latest reimbursed equipment delivered on or before ``before``."""
        ...
    def add_optical_purchase(self, beneficiary_id: int, delivered_on: date, invoice_id: int | None) -> None: ...

    # -- presence proofs and the proof-less quota ----------------------------------------
    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        """Consume a presence proof's nonce for this professional; False (nothing written) if
        it was already used."""
        ...
    def admit_proofless(self, account_id: int, day: date, subject: str, quota: int) -> bool:
        """Count ``subject`` among the account's proof-less checks of ``day``: True if it was
        already counted or there is room under ``quota`` (then it is counted), else False."""
        ...

    # -- professionals and networks ------------------------------------------------------
    def professional(self, professional_id: int) -> Professional | None: ...
    def professional_by_rpps(self, rpps: str) -> Professional | None: ...
    def add_organisation(self, kind: str, identifier: str, name: str) -> int:
        """Raises Conflict("identifier") when it exists."""
        ...
    def organisation_id(self, identifier: str) -> int | None: ...
    def add_professional(self, professional: Professional) -> int:
        """Raises Conflict("rpps") when the RPPS exists."""
        ...
    def network_caps(self, professional_id: int, insurer_id: int) -> dict[str, Decimal]:
        """Lowest negotiated cap per code over the networks joining this professional and insurer."""
        ...

    # -- engagements, quotes, invoices ---------------------------------------------------
    def add_engagement(self, engagement: Engagement, created_at: datetime) -> int: ...
    def engagement_by_number(self, number: str) -> Engagement | None: ...
    def engagement_by_id(self, engagement_id: int) -> Engagement | None: ...
    def add_quote(self, quote: Quote, created_at: datetime) -> int: ...
    def quote_by_number(self, number: str) -> Quote | None: ...
    def invoice_by_number(self, professional_id: int, invoice_number: str) -> Invoice | None: ...
    def care_key_used(self, care_key: str) -> bool:
        """True when an invoice not rejected already bills this care (beneficiary, date, codes)."""
        ...
    def add_invoice(self, invoice: Invoice) -> int:
        """Raises Conflict("invoice_number") when (professional, number) exists."""
        ...

    # -- payments ------------------------------------------------------------------------
    def payable_invoices(self, insurer_id: int) -> list[PayableInvoice]:
        """Approved or partially approved invoices of the insurer not yet in a payment order."""
        ...
    def add_payment_run(self, insurer_id: int, created_at: datetime) -> int: ...
    def add_payment_order(self, run_id: int, professional_id: int, amount: Decimal, end_to_end_id: str,
                          statement: Mapping[str, Any]) -> int: ...
    def attach_invoices(self, invoice_ids: Sequence[int], order_id: int) -> list[int]:
        """Attach each invoice still unpaid to ``order_id`` -- atomically, invoice by invoice: an
        invoice already attached to another order is skipped. Returns the ids attached. This is
        what guarantees that no invoice is ever paid twice, even with concurrent runs."""
        ...
    def set_payment_order(self, order_id: int, amount: Decimal, statement: Mapping[str, Any]) -> None: ...
    def delete_payment_order(self, order_id: int) -> None: ...
    def finish_payment_run(self, run_id: int, order_count: int, total: Decimal, sepa_xml: str | None) -> None: ...
    def payment_run(self, run_id: int) -> PaymentRun | None: ...
    def payment_orders(self, run_id: int) -> list[PaymentOrderRecord]: ...
    def payment_orders_of_professional(self, professional_id: int) -> list[PaymentOrderRecord]: ...
    def payment_order(self, order_id: int) -> PaymentOrderRecord | None: ...

    # -- accounts and sessions -----------------------------------------------------------
    def account_by_username(self, username: str) -> Account | None: ...
    def account(self, account_id: int) -> Account | None: ...
    def add_account(self, account: Account) -> int:
        """Raises Conflict("username") when it exists."""
        ...
    def set_totp_last_step(self, account_id: int, step: int) -> None: ...
    def set_password_hash(self, account_id: int, password_hash: str) -> None: ...
    def add_session(self, account_id: int, token_hash: str, created_at: datetime, expires_at: datetime,
                    aal: str = "password_totp") -> int: ...
    def session_by_token_hash(self, token_hash: str) -> tuple[Session, Account] | None:
        """The session and its account, in one lookup (every request makes it)."""
        ...
    def touch_session(self, session_id: int, at: datetime) -> None: ...
    def revoke_session(self, session_id: int) -> None: ...
    def live_sessions_of(self, account_id: int, at: datetime) -> list[Session]:
        """Sessions neither revoked nor past their absolute expiry (idle ones included)."""
        ...
    def revoke_sessions_of(self, account_id: int) -> int: ...
    def revoke_all_sessions(self) -> int: ...
    def set_disabled(self, account_id: int, disabled: bool) -> None: ...

    # -- bank details changes and notices ------------------------------------------------
    def add_bank_change(self, professional_id: int, iban: str, bic: str, requested_at: datetime,
                        effective_at: datetime, requested_by: int) -> int: ...
    def bank_changes(self, professional_id: int) -> list[BankChange]: ...
    def cancel_bank_change(self, professional_id: int, change_id: int) -> bool:
        """Cancel a change not yet applied; False if there is none such."""
        ...
    def apply_due_bank_changes(self, professional_id: int, at: datetime) -> None:
        """Make the latest due, uncancelled change the professional's bank details."""
        ...
    def add_notification(self, professional_id: int, kind: str, text: str, at: datetime) -> None: ...
    def notifications_of(self, professional_id: int) -> list[tuple[str, str, datetime]]: ...

    # -- OpenID Connect -------------------------------------------------------------------
    def add_oidc_state(self, state_hash: str, nonce: str, verifier: str, expires_at: datetime) -> None: ...
    def take_oidc_state(self, state_hash: str, at: datetime) -> tuple[str, str] | None:
        """(nonce, PKCE verifier) of a live, unused state, consumed; None otherwise."""
        ...
    def account_of_professional(self, professional_id: int) -> Account | None: ...

    # -- sign-in failures ----------------------------------------------------------------
    def failures(self, key: str) -> tuple[int, datetime, datetime] | None:
        """(failures, window start, last failure) for a throttle key, or None."""
        ...
    def record_failure(self, key: str, at: datetime, window: timedelta) -> None:
        """Count a failure; a window older than ``window`` starts again at 1."""
        ...
    def clear_failures(self, key: str) -> None: ...

    # -- passkeys ------------------------------------------------------------------------
    def add_enrolment_code(self, code_hash: str, account_id: int, expires_at: datetime) -> None: ...
    def enrolment_account(self, code_hash: str, at: datetime) -> int | None:
        """The account of a live, unused enrolment code; None otherwise."""
        ...
    def use_enrolment_code(self, code_hash: str) -> bool:
        """Mark used; False if it already was (concurrent use)."""
        ...
    def add_challenge(self, challenge_hash: str, purpose: str, account_id: int | None, expires_at: datetime) -> None: ...
    def take_challenge(self, challenge_hash: str, purpose: str, at: datetime) -> tuple[bool, int | None]:
        """Consume a live, unused challenge of ``purpose``: (True, its account) once, then
        (False, None) -- a replayed challenge is never accepted twice."""
        ...
    def add_passkey(self, account_id: int, credential_id: str, public_key: bytes, sign_count: int,
                    at: datetime) -> int:
        """Raises Conflict("credential") when the credential is already registered."""
        ...
    def passkey_by_credential_id(self, credential_id: str) -> Passkey | None: ...
    def passkeys_of(self, account_id: int) -> list[Passkey]: ...
    def set_sign_count(self, passkey_id: int, sign_count: int) -> None: ...
    def revoke_passkey(self, account_id: int, passkey_id: int) -> bool: ...


class UnitOfWork(Protocol):
    def __call__(self, *, readonly: bool = False) -> AbstractContextManager[Repositories]:
        """One transaction: commit on normal exit, roll back on exception. ``readonly=True``
        promises no write, so the store may run it without taking the write lock (readers never
        wait for writers); writing in a read-only unit of work is an error."""
        ...


@dataclass(frozen=True, slots=True)
class TransferLine:
    professional_name: str
    iban: str
    bic: str
    amount: Decimal
    end_to_end_id: str
    description: str


class PaymentFileWriter(Protocol):
    def credit_transfer(self, run_reference: str, execution_date: date, lines: Sequence[TransferLine]) -> str:
        """A SEPA credit-transfer file (pain.001.001.03) paying every line; raises ValueError when
        a line cannot be paid (e.g. an invalid IBAN)."""
        ...


class BulkLoader(Protocol):
    """Fast loading of generated reference data (seeding, migrations from another operator).
    Rows are table-shaped and carry their ids; a batch is one transaction."""

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def count(self, table: str) -> int: ...

    def reset_sequences(self) -> None:
        """After inserting explicit ids, make the database's id sequences continue after them."""
        ...


T = TypeVar("T")


class WriteQueue(Protocol):
    """Group commit: small writes from concurrent requests share one transaction.

    ``await queue.run(work)`` runs ``work(repos)`` in a write transaction together with the
    other works submitted meanwhile, and returns its result once that transaction has committed:
    a caller never answers before its write is durable. If the shared transaction fails, every
    work is retried alone, so one bad write cannot fail the others; ``work`` must therefore be
    safe to run twice when the first run was rolled back (a pure insert is)."""

    async def run(self, work: Callable[[Repositories], T]) -> T: ...
