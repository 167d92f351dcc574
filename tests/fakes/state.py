"""The in-memory state every fake shares (one object: a transaction's ports see each other's
writes, as SQL ports over one connection do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tierspayant.audit.events import AccessEvent
from tierspayant.detection.baselines import Baseline
from tierspayant.domain.contracts import Contract
from tierspayant.domain.reference import ReferenceCode
from tierspayant.domain.renewal import Parts
from tierspayant.services import records
from tierspayant.services.ports.networks import Network, NetworkMember, PriceCap


@dataclass
class FakeState:
    # -- care
    insurers: dict[int, records.Insurer] = field(default_factory=dict)
    contracts: dict[int, tuple[int, Contract]] = field(default_factory=dict)
    codes: list[ReferenceCode] = field(default_factory=list)
    organisations: dict[int, records.Organisation] = field(default_factory=dict)
    professionals: dict[int, records.Professional] = field(default_factory=dict)
    networks: dict[int, Network] = field(default_factory=dict)
    network_members: list[NetworkMember] = field(default_factory=list)
    price_caps: list[PriceCap] = field(default_factory=list)
    beneficiaries: dict[int, records.Beneficiary] = field(default_factory=dict)
    periods: dict[int, list[records.RightsPeriod]] = field(default_factory=dict)
    purchases: dict[int, list[tuple[date, Parts]]] = field(default_factory=dict)
    purchase_invoices: dict[int, tuple[int, date, Parts]] = field(default_factory=dict)  # invoice -> (beneficiary, date, parts)
    nonces: set[str] = field(default_factory=set)
    proofless_seen: dict[tuple[str, int, str], date] = field(default_factory=dict)
    #: (scope, holder, day) -> [admitted, followed, organisation of an account's row, quoted]
    proofless_days: dict[tuple[str, int, date], list[Any]] = field(default_factory=dict)
    proofless_engagements: dict[int, tuple[int, int | None, date, bool]] = field(default_factory=dict)
    engagements: dict[int, records.Engagement] = field(default_factory=dict)
    quotes: dict[int, records.Quote] = field(default_factory=dict)
    invoices: dict[int, records.Invoice] = field(default_factory=dict)
    runs: dict[int, records.PaymentRun] = field(default_factory=dict)
    orders: dict[int, records.PaymentOrderRecord] = field(default_factory=dict)
    bank_changes: dict[int, records.BankChange] = field(default_factory=dict)
    notifications: list[tuple[int, str, str, datetime]] = field(default_factory=list)
    # -- identity
    accounts: dict[int, records.Account] = field(default_factory=dict)
    sessions: dict[int, tuple[records.Session, str]] = field(default_factory=dict)  # session, token hash
    failures: dict[str, tuple[int, datetime, datetime]] = field(default_factory=dict)
    enrolment_codes: dict[str, tuple[int, datetime, bool]] = field(default_factory=dict)  # hash -> account, expiry, used
    challenges: dict[str, tuple[str, int | None, datetime, bool]] = field(default_factory=dict)
    passkeys: dict[int, records.Passkey] = field(default_factory=dict)
    fingerprints: dict[tuple[int, str, str], datetime] = field(default_factory=dict)  # (account, kind, value) -> first
    oidc: dict[str, tuple[str, str, datetime, bool]] = field(default_factory=dict)
    # -- oversight
    events: list[tuple[records.StoredEvent, AccessEvent]] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    checkpoints: dict[int, records.StoredCheckpoint] = field(default_factory=dict)
    cosignatures: dict[int, list[str]] = field(default_factory=dict)
    seen: dict[tuple[int, str], tuple[int | None, records.SeenSubject]] = field(default_factory=dict)  # -> organisation
    org_seen: dict[tuple[int, str], datetime] = field(default_factory=dict)  # (organisation, subject) -> last
    counters: dict[tuple[str, int, int], int] = field(default_factory=dict)  # (scope, holder, hour slot) -> count
    baselines: dict[int, Baseline] = field(default_factory=dict)
    containments: dict[int, records.Containment] = field(default_factory=dict)
    alerts: list[records.Alert] = field(default_factory=list)
    #: Sealed rows per owner and table, as the fake "store" holds them: owner -> table -> {row: version}.
    sealed: dict[int, dict[str, dict[int, int]]] = field(default_factory=dict)
    keys: dict[int, list[int]] = field(default_factory=dict)
    shred_requests: dict[int, records.ShredRequest] = field(default_factory=dict)
    # -- delivery: destinations, and the outbox's messages with their lease (owner, until)
    destinations: dict[int, Any] = field(default_factory=dict)
    outbox: dict[int, tuple[Any, tuple[str, datetime] | None]] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id
