"""The SQL implementation of ``services.ports.Repositories`` and ``UnitOfWork``."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Integer, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tierspayant.audit.events import AccessEvent
from tierspayant.audit.merkle import leaf_hash
from tierspayant.domain.contracts import Contract, contract_from_dict, contract_to_dict
from tierspayant.domain.payments import PayableInvoice
from tierspayant.domain.reference import CareCategory, ItemKind, OpticalClass, ReferenceCode
from tierspayant.security.fields import InvalidCiphertext
from tierspayant.services.ports import (
    Account,
    BankChange,
    Beneficiary,
    Conflict,
    Engagement,
    Insurer,
    Invoice,
    LogUnavailable,
    Passkey,
    PaymentOrderRecord,
    PaymentRun,
    Professional,
    Quote,
    Repositories,
    RightsPeriod,
    Session,
    StoredCheckpoint,
    StoredEvent,
)
from tierspayant.store import tables as t
from tierspayant.store.detection import SqlDetectionRepository
from tierspayant.store.prepared import Prepared, PreparedInsert
from tierspayant.store.protection import SEALED, Protection

PAYABLE_STATUSES = ("approved", "partially_approved")

# Hot-path statements (rights check, authentication), built once: building a select per call
# costs more than running it on SQLite (measured in bench/).
_INSURER_BY_AMC = select(t.insurers).where(t.insurers.c.amc_number == bindparam("amc"))
_BENEFICIARIES_BY_NIR = select(t.beneficiaries).where(
    t.beneficiaries.c.insurer_id == bindparam("insurer_id"), t.beneficiaries.c.nir_bidx == bindparam("nir"))
_RIGHTS_PERIODS = select(t.rights_periods.c.start_date, t.rights_periods.c.end_date, t.rights_periods.c.categories).where(
    t.rights_periods.c.beneficiary_id == bindparam("beneficiary_id"))
_SESSION = (
    select(t.sessions.c.id, t.sessions.c.account_id, t.sessions.c.created_at, t.sessions.c.last_seen_at,
           t.sessions.c.expires_at, t.sessions.c.revoked, t.sessions.c.aal,
           *[c.label(f"a_{c.name}") for c in t.accounts.c])
    .join(t.accounts, t.accounts.c.id == t.sessions.c.account_id)
    .where(t.sessions.c.token_hash == bindparam("token_hash"))
)
_ACCOUNT = select(t.accounts).where(t.accounts.c.id == bindparam("account_id"))
_BENEFICIARIES_WITH_RIGHTS = (
    select(t.beneficiaries, t.rights_periods.c.start_date, t.rights_periods.c.end_date, t.rights_periods.c.categories)
    .outerjoin(t.rights_periods, t.rights_periods.c.beneficiary_id == t.beneficiaries.c.id)
    .where(t.beneficiaries.c.insurer_id == bindparam("insurer_id"), t.beneficiaries.c.nir_bidx == bindparam("nir"))
)
_BENEFICIARY_COLUMNS = [c.name for c in t.beneficiaries.c]
_BENEFICIARIES_WITH_RIGHTS_FAST = Prepared(_BENEFICIARIES_WITH_RIGHTS)
_SESSION_FAST = Prepared(_SESSION)
_ACCOUNT_COLUMNS = [c.name for c in t.accounts.c]


def _period(start: date, end: date | None, categories: str) -> RightsPeriod:
    return RightsPeriod(start, end, frozenset(CareCategory(c) for c in categories.split(",") if c))
_ADD_ENGAGEMENT = insert(t.engagements)
_GROW_LOG = (update(t.audit_head).where(t.audit_head.c.id == 1)
             .values(size=t.audit_head.c.size + bindparam("n", type_=Integer)).returning(t.audit_head.c.size))
_INSERT_EVENTS = PreparedInsert(t.audit_events)


class InsurerCache:
    """Insurers by AMC number, kept ``ttl`` seconds: read on every rights check, changed a few
    times a year. A new insurer is visible at once (misses are not cached)."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Insurer]] = {}

    def get(self, amc_number: str) -> Insurer | None:
        entry = self._entries.get(amc_number)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, insurer: Insurer) -> None:
        self._entries[insurer.amc_number] = (time.monotonic(), insurer)


class SqlAuditRepository:
    """The transparency log part of ``SqlRepositories``."""

    conn: Connection
    drop_events: bool = False
    pending_events: list[AccessEvent]

    def append_events(self, events: Sequence[AccessEvent]) -> None:
        if not self.drop_events:
            self.pending_events.extend(events)

    def flush_events(self) -> None:
        """Write the events queued in this unit of work, just before it commits: one counter
        update and one multi-row insert per transaction (a group commit carries many)."""
        events, self.pending_events = self.pending_events, []
        if not events:
            return
        # The row lock on audit_head orders concurrent appenders: contiguous leaf indexes.
        new_size = int(self.conn.execute(_GROW_LOG, {"n": len(events)}).scalar_one())
        start = new_size - len(events)
        rows = []
        for offset, event in enumerate(events):
            entry = event.canonical()
            rows.append({
                "seq": start + offset, "at": event.at, "tag": event.tag.value, "account_id": event.account_id,
                "organisation_id": event.organisation_id, "beneficiary": event.beneficiary,
                "insurer_id": event.insurer_id, "entry": entry.decode(), "leaf_hash": leaf_hash(entry).hex(),
            })
        _INSERT_EVENTS.run(self.conn, rows)

    def log_size(self) -> int:
        return int(self.conn.execute(select(t.audit_head.c.size).where(t.audit_head.c.id == 1)).scalar_one())

    def events(self, start: int, end: int) -> list[StoredEvent]:
        return self._stored(and_(t.audit_events.c.seq >= start, t.audit_events.c.seq < end))

    def events_page(self, start: int, limit: int) -> list[StoredEvent]:
        return self._stored(t.audit_events.c.seq >= start, limit)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return [e.leaf_hash for e in self.events(start, end)]

    def node_hashes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        out: dict[tuple[int, int], bytes] = {}
        for level, idx in wanted:
            value = self.conn.execute(select(t.audit_nodes.c.hash).where(
                t.audit_nodes.c.level == level, t.audit_nodes.c.idx == idx)).scalar()
            if value is not None:
                out[(level, idx)] = bytes.fromhex(value)
        return out

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        if nodes:
            self.conn.execute(insert(t.audit_nodes),
                              [{"level": level, "idx": idx, "hash": value.hex()} for level, idx, value in nodes])

    def _checkpoint(self, row: Any) -> StoredCheckpoint:
        return StoredCheckpoint(row.size, bytes.fromhex(row.root), row.created_at, row.note)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.conn.execute(select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.size.desc()).limit(1)).first()
        return self._checkpoint(row) if row else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self.conn.execute(select(t.audit_checkpoints).where(t.audit_checkpoints.c.size == size)).first()
        return self._checkpoint(row) if row else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.conn.execute(select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.size))
        return [self._checkpoint(r) for r in rows]

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t.audit_checkpoints).values(
                    size=checkpoint.size, root=checkpoint.root.hex(), created_at=checkpoint.created_at,
                    note=checkpoint.note))
        except IntegrityError:
            return False
        return True

    def add_cosignature(self, size: int, witness: str, signature_line: str, at: datetime) -> None:
        self.conn.execute(insert(t.audit_cosignatures).values(size=size, witness=witness,
                                                              signature_line=signature_line, created_at=at))

    def cosignatures(self, size: int) -> list[str]:
        rows = self.conn.execute(select(t.audit_cosignatures.c.signature_line)
                                 .where(t.audit_cosignatures.c.size == size).order_by(t.audit_cosignatures.c.id))
        return [r[0] for r in rows]

    def _stored(self, where: Any, limit: int | None = None) -> list[StoredEvent]:
        query = (select(t.audit_events.c.seq, t.audit_events.c.entry, t.audit_events.c.leaf_hash)
                 .where(where).order_by(t.audit_events.c.seq))
        rows = self.conn.execute(query.limit(limit) if limit is not None else query)
        return [StoredEvent(r.seq, r.entry.encode(), bytes.fromhex(r.leaf_hash)) for r in rows]

    def events_of_beneficiary(self, pseudonym: str) -> list[StoredEvent]:
        return self._stored(t.audit_events.c.beneficiary == pseudonym)

    def events_of_actor(self, *, account_id: int | None, organisation_id: int | None, start: datetime,
                        end: datetime) -> list[StoredEvent]:
        column, value = ((t.audit_events.c.account_id, account_id) if account_id is not None
                         else (t.audit_events.c.organisation_id, organisation_id))
        return self._stored(and_(column == value, t.audit_events.c.at >= start, t.audit_events.c.at < end))


class SqlRepositories(SqlAuditRepository, SqlDetectionRepository):
    """``Repositories`` over one SQLAlchemy connection inside a transaction."""

    def __init__(self, conn: Connection, protection: Protection, insurers: InsurerCache | None = None,
                 drop_events: bool = False) -> None:
        self.conn = conn
        self.protection = protection
        self.insurers = insurers or InsurerCache(ttl=0)
        self.drop_events = drop_events
        self.pending_events = []

    def _insert(self, table: Any, values: Mapping[str, Any], conflict_field: str) -> int:
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(insert(table).values(**values))
        except IntegrityError:
            raise Conflict(conflict_field, "already exists") from None
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _insert_sealed(self, table: Any, values: Mapping[str, Any], conflict_field: str) -> int:
        """Insert a row with protected fields (store/protection.py): the row id is part of each
        field's associated data, so insert with empty envelopes, then seal with the id."""
        spec = SEALED[table.name]
        placeholder = {k: v for k, v in values.items() if k not in spec.fields}
        placeholder.update({column: "" for column, _ in spec.fields.values()})
        placeholder.update({c: "" for c in ("nir_bidx", "member_bidx") if table.name == "beneficiaries"})
        row_id = self._insert(table, placeholder, conflict_field)
        self._reseal(table, {**values, "id": row_id})
        return row_id

    def _reseal(self, table: Any, values: Mapping[str, Any]) -> None:
        """Write protected fields (and any others given) of an existing row, sealed."""
        sealed = self.protection.seal(self.conn, table.name, values)
        self.conn.execute(update(table).where(table.c.id == values["id"])
                          .values({k: v for k, v in sealed.items() if k != "id"}))

    def _open(self, table: Any, row: Any) -> dict[str, Any] | None:
        """The plain row, or None when its owner's keys were shredded: nothing to show."""
        if row is None:
            return None
        try:
            return self.protection.open(self.conn, table.name, row)
        except InvalidCiphertext:
            return None

    # -- reference data -------------------------------------------------------------------
    def insurer_by_amc(self, amc_number: str) -> Insurer | None:
        cached = self.insurers.get(amc_number)
        if cached is not None:
            return cached
        row = self.conn.execute(_INSURER_BY_AMC, {"amc": amc_number}).first()
        if row is None:
            return None
        insurer = Insurer(**row._mapping)
        self.insurers.put(insurer)
        return insurer

    def insurer(self, insurer_id: int) -> Insurer | None:
        row = self.conn.execute(select(t.insurers).where(t.insurers.c.id == insurer_id)).first()
        return Insurer(**row._mapping) if row else None

    def add_insurer(self, amc_number: str, name: str, engagement_validity_days: int, pec_validity_days: int) -> int:
        return self._insert(t.insurers, {
            "amc_number": amc_number, "name": name, "engagement_validity_days": engagement_validity_days,
            "pec_validity_days": pec_validity_days,
        }, "amc_number")

    def contract(self, contract_id: int) -> Contract | None:
        config = self.conn.execute(select(t.contracts.c.config).where(t.contracts.c.id == contract_id)).scalar()
        return contract_from_dict(config) if config is not None else None

    def contract_id_by_code(self, insurer_id: int, code: str) -> int | None:
        return self.conn.execute(
            select(t.contracts.c.id).where(t.contracts.c.insurer_id == insurer_id, t.contracts.c.code == code)
        ).scalar()

    def add_contract(self, insurer_id: int, contract: Contract) -> int:
        return self._insert(t.contracts, {
            "insurer_id": insurer_id, "code": contract.code, "config": contract_to_dict(contract),
        }, "code")

    def reference_codes(self, codes: Sequence[str]) -> list[ReferenceCode]:
        rows = self.conn.execute(select(t.reference_codes).where(t.reference_codes.c.code.in_(list(codes))))
        return [
            ReferenceCode(
                code=r.code, kind=ItemKind(r.kind), label=r.label, br=r.br, amo_rate=Decimal(r.amo_rate),
                valid_from=r.valid_from, valid_to=r.valid_to,
                optical_class=OpticalClass(r.optical_class) if r.optical_class else None, plv=r.plv,
                amo_rate_out_of_pathway=Decimal(r.amo_rate_out_of_pathway) if r.amo_rate_out_of_pathway else None,
            )
            for r in rows
        ]

    def add_reference_code(self, row: ReferenceCode) -> None:
        self.conn.execute(insert(t.reference_codes).values(
            code=row.code, kind=row.kind.value, label=row.label, br=row.br, amo_rate=row.amo_rate,
            amo_rate_out_of_pathway=row.amo_rate_out_of_pathway,
            optical_class=row.optical_class.value if row.optical_class else None, plv=row.plv,
            valid_from=row.valid_from, valid_to=row.valid_to,
        ))

    # -- beneficiaries -------------------------------------------------------------------
    def beneficiaries_by_nir(self, insurer_id: int, nir: str) -> list[Beneficiary]:
        rows = self.conn.execute(_BENEFICIARIES_BY_NIR, {"insurer_id": insurer_id,
                                                         "nir": self.protection.nir_index(insurer_id, nir)})
        return [b for b in (self._open_beneficiary(r) for r in rows) if b is not None]

    def _open_beneficiary(self, row: Any) -> Beneficiary | None:
        """The plain record, or None when its insurer's keys were shredded."""
        try:
            return self.protection.open_beneficiary(self.conn, row)
        except InvalidCiphertext:
            return None

    def beneficiary(self, beneficiary_id: int) -> Beneficiary | None:
        row = self.conn.execute(select(t.beneficiaries).where(t.beneficiaries.c.id == beneficiary_id)).first()
        return self._open_beneficiary(row) if row else None

    def add_beneficiary(self, beneficiary: Beneficiary) -> int:
        values = {k: getattr(beneficiary, k) for k in Beneficiary.__slots__ if k != "id"}
        return self._insert_sealed(t.beneficiaries, values, "nir")

    def rights_periods(self, beneficiary_id: int) -> list[RightsPeriod]:
        rows = self.conn.execute(_RIGHTS_PERIODS, {"beneficiary_id": beneficiary_id})
        return [_period(r.start_date, r.end_date, r.categories) for r in rows]

    def beneficiaries_with_rights(self, insurer_id: int, nir: str) -> list[tuple[Beneficiary, list[RightsPeriod]]]:
        found: dict[int, tuple[Beneficiary, list[RightsPeriod]]] = {}
        width = len(_BENEFICIARY_COLUMNS)
        params: dict[str, str | int] = {"insurer_id": insurer_id, "nir": self.protection.nir_index(insurer_id, nir)}
        for row in _BENEFICIARIES_WITH_RIGHTS_FAST.all(self.conn, params):
            beneficiary_id = row[0]
            if beneficiary_id not in found:
                opened = self._open_beneficiary(dict(zip(_BENEFICIARY_COLUMNS, row[:width], strict=True)))
                if opened is None:
                    continue  # shredded: nobody to find
                found[beneficiary_id] = (opened, [])
            start, end, categories = row[width:]
            if start is not None and beneficiary_id in found:
                found[beneficiary_id][1].append(_period(start, end, categories))
        if not found:
            self.protection.equalize()
        return list(found.values())

    def add_rights_period(self, beneficiary_id: int, period: RightsPeriod) -> None:
        self.conn.execute(insert(t.rights_periods).values(
            beneficiary_id=beneficiary_id, start_date=period.start, end_date=period.end,
            categories=",".join(sorted(c.value for c in period.categories)),
        ))

    def last_optical_purchase(self, beneficiary_id: int, before: date) -> date | None:
        # Delivery dates are sealed: a beneficiary has a handful of purchases, opened here.
        rows = self.conn.execute(select(t.optical_purchases).where(
            t.optical_purchases.c.beneficiary_id == beneficiary_id))
        dates = [p["delivered_on"] for p in (self._open(t.optical_purchases, r) for r in rows) if p is not None]
        return max((d for d in dates if d <= before), default=None)

    def add_optical_purchase(self, beneficiary_id: int, delivered_on: date, invoice_id: int | None) -> None:
        insurer_id = self.conn.execute(select(t.beneficiaries.c.insurer_id)
                                       .where(t.beneficiaries.c.id == beneficiary_id)).scalar_one()
        self._insert_sealed(t.optical_purchases, {"beneficiary_id": beneficiary_id, "insurer_id": insurer_id,
                                                  "delivered_on": delivered_on, "invoice_id": invoice_id}, "id")

    # -- presence proofs and the proof-less quota ----------------------------------------
    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        # INSERT .. ON CONFLICT DO NOTHING: atomic, and no savepoint inside the group commit.
        # RETURNING tells whether the row went in: ``rowcount`` does not (psycopg 3 with
        # SQLAlchemy 2.1 reports -1 for this statement on PostgreSQL, inserted or not).
        dialect_insert = sqlite_insert if self.conn.dialect.name == "sqlite" else pg_insert
        result = self.conn.execute(dialect_insert(t.presence_uses).values(
            nonce=nonce, professional_id=professional_id, used_at=at).on_conflict_do_nothing()
            .returning(t.presence_uses.c.nonce))
        return result.first() is not None

    def admit_proofless(self, account_id: int, day: date, subject: str, quota: int) -> bool:
        # Count-then-insert is exact because write transactions are serialised (BEGIN IMMEDIATE
        # on SQLite, the writers' advisory lock on PostgreSQL: store/database.py).
        where = and_(t.proofless_checks.c.account_id == account_id, t.proofless_checks.c.day == day)
        if self.conn.execute(select(t.proofless_checks.c.subject)
                             .where(where, t.proofless_checks.c.subject == subject)).first() is not None:
            return True
        if self.conn.execute(select(func.count()).select_from(t.proofless_checks).where(where)).scalar_one() >= quota:
            return False
        self.conn.execute(insert(t.proofless_checks).values(account_id=account_id, day=day, subject=subject))
        return True

    # -- professionals and networks ------------------------------------------------------
    def professional(self, professional_id: int) -> Professional | None:
        return self._professional(t.professionals.c.id == professional_id)

    def professional_by_rpps(self, rpps: str) -> Professional | None:
        return self._professional(t.professionals.c.rpps == rpps)

    def _professional(self, where: Any) -> Professional | None:
        plain = self._open(t.professionals, self.conn.execute(select(t.professionals).where(where)).first())
        return Professional(**plain) if plain else None

    def add_organisation(self, kind: str, identifier: str, name: str) -> int:
        return self._insert(t.organisations, {"kind": kind, "identifier": identifier, "name": name}, "identifier")

    def organisation_id(self, identifier: str) -> int | None:
        return self.conn.execute(
            select(t.organisations.c.id).where(t.organisations.c.identifier == identifier)
        ).scalar()

    def add_professional(self, professional: Professional) -> int:
        values = {k: getattr(professional, k) for k in Professional.__slots__ if k != "id"}
        return self._insert_sealed(t.professionals, values, "rpps")

    def network_caps(self, professional_id: int, insurer_id: int) -> dict[str, Decimal]:
        rows = self.conn.execute(
            select(t.network_price_caps.c.code, func.min(t.network_price_caps.c.cap))
            .join(t.network_members, t.network_members.c.network_id == t.network_price_caps.c.network_id)
            .join(t.network_insurers, t.network_insurers.c.network_id == t.network_price_caps.c.network_id)
            .where(t.network_members.c.professional_id == professional_id,
                   t.network_insurers.c.insurer_id == insurer_id)
            .group_by(t.network_price_caps.c.code)
        )
        return {code: Decimal(cap) / 100 if isinstance(cap, int) else Decimal(cap) for code, cap in rows}

    # -- engagements, quotes, invoices ---------------------------------------------------
    def add_engagement(self, engagement: Engagement, created_at: datetime) -> int:
        values = {k: getattr(engagement, k) for k in Engagement.__slots__ if k != "id"}
        values["category"] = engagement.category.value
        # No savepoint: numbers carry 80 random bits, a collision is an error, not a conflict.
        result = self.conn.execute(_ADD_ENGAGEMENT, {**values, "created_at": created_at})
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def engagement_by_number(self, number: str) -> Engagement | None:
        return self._engagement(t.engagements.c.number == number)

    def engagement_by_id(self, engagement_id: int) -> Engagement | None:
        return self._engagement(t.engagements.c.id == engagement_id)

    def _engagement(self, where: Any) -> Engagement | None:
        row = self.conn.execute(select(t.engagements).where(where)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data.pop("created_at")
        data["category"] = CareCategory(data["category"])
        return Engagement(**data)

    def add_quote(self, quote: Quote, created_at: datetime) -> int:
        values = {k: getattr(quote, k) for k in Quote.__slots__ if k != "id"}
        return self._insert_sealed(t.quotes, {**values, "created_at": created_at}, "number")

    def quote_by_number(self, number: str) -> Quote | None:
        data = self._open(t.quotes, self.conn.execute(select(t.quotes).where(t.quotes.c.number == number)).first())
        if data is None:
            return None
        data.pop("created_at")
        return Quote(**data)

    def invoice_by_number(self, professional_id: int, invoice_number: str) -> Invoice | None:
        data = self._open(t.invoices, self.conn.execute(select(t.invoices).where(
            t.invoices.c.professional_id == professional_id, t.invoices.c.invoice_number == invoice_number
        )).first())
        if data is None:
            return None
        data["category"] = CareCategory(data["category"])
        return Invoice(**data)

    def care_key_used(self, care_key: str) -> bool:
        return self.conn.execute(
            select(t.invoices.c.id).where(t.invoices.c.care_key == care_key, t.invoices.c.status != "rejected").limit(1)
        ).first() is not None

    def add_invoice(self, invoice: Invoice) -> int:
        values = {k: getattr(invoice, k) for k in Invoice.__slots__ if k != "id"}
        values["category"] = invoice.category.value
        return self._insert_sealed(t.invoices, values, "invoice_number")

    # -- payments ------------------------------------------------------------------------
    def payable_invoices(self, insurer_id: int) -> list[PayableInvoice]:
        rows = self.conn.execute(
            select(t.invoices.c.id, t.invoices.c.professional_id, t.invoices.c.invoice_number, t.invoices.c.approved_amc)
            .where(t.invoices.c.insurer_id == insurer_id, t.invoices.c.status.in_(PAYABLE_STATUSES),
                   t.invoices.c.payment_order_id.is_(None))
            .order_by(t.invoices.c.id)
        )
        return [PayableInvoice(r.id, r.professional_id, r.invoice_number, r.approved_amc) for r in rows]

    def add_payment_run(self, insurer_id: int, created_at: datetime) -> int:
        return self._insert(t.payment_runs, {
            "insurer_id": insurer_id, "created_at": created_at, "order_count": 0, "total": Decimal(0),
        }, "id")

    def add_payment_order(self, run_id: int, professional_id: int, amount: Decimal, end_to_end_id: str,
                          statement: Mapping[str, Any]) -> int:
        insurer_id = self.conn.execute(select(t.payment_runs.c.insurer_id)
                                       .where(t.payment_runs.c.id == run_id)).scalar_one()
        return self._insert_sealed(t.payment_orders, {
            "run_id": run_id, "insurer_id": insurer_id, "professional_id": professional_id, "amount": amount,
            "end_to_end_id": end_to_end_id, "statement": dict(statement),
        }, "end_to_end_id")

    def attach_invoices(self, invoice_ids: Sequence[int], order_id: int) -> list[int]:
        attached = []
        for invoice_id in invoice_ids:
            # A conditional UPDATE: on PostgreSQL a concurrent run waits for our row lock, then
            # re-checks the WHERE and finds the invoice taken (READ COMMITTED re-evaluation);
            # on SQLite writers are serialised by BEGIN IMMEDIATE.
            result = self.conn.execute(
                update(t.invoices)
                .where(and_(t.invoices.c.id == invoice_id, t.invoices.c.payment_order_id.is_(None),
                            t.invoices.c.status.in_(PAYABLE_STATUSES)))
                .values(payment_order_id=order_id, status="paid")
            )
            if result.rowcount == 1:
                attached.append(invoice_id)
        return attached

    def set_payment_order(self, order_id: int, amount: Decimal, statement: Mapping[str, Any]) -> None:
        insurer_id = self.conn.execute(select(t.payment_orders.c.insurer_id)
                                       .where(t.payment_orders.c.id == order_id)).scalar_one()
        self._reseal(t.payment_orders, {"id": order_id, "insurer_id": insurer_id, "amount": amount,
                                        "statement": dict(statement)})

    def delete_payment_order(self, order_id: int) -> None:
        self.conn.execute(delete(t.payment_orders).where(t.payment_orders.c.id == order_id))

    def finish_payment_run(self, run_id: int, order_count: int, total: Decimal, sepa_xml: str | None) -> None:
        insurer_id = self.conn.execute(select(t.payment_runs.c.insurer_id)
                                       .where(t.payment_runs.c.id == run_id)).scalar_one()
        self._reseal(t.payment_runs, {"id": run_id, "insurer_id": insurer_id, "order_count": order_count,
                                      "total": total, "sepa_xml": sepa_xml})

    def payment_run(self, run_id: int) -> PaymentRun | None:
        plain = self._open(t.payment_runs,
                           self.conn.execute(select(t.payment_runs).where(t.payment_runs.c.id == run_id)).first())
        return PaymentRun(**plain) if plain else None

    def payment_orders(self, run_id: int) -> list[PaymentOrderRecord]:
        return self._orders(t.payment_orders.c.run_id == run_id, t.payment_orders.c.id)

    def payment_orders_of_professional(self, professional_id: int) -> list[PaymentOrderRecord]:
        return self._orders(t.payment_orders.c.professional_id == professional_id, t.payment_orders.c.id.desc())

    def payment_order(self, order_id: int) -> PaymentOrderRecord | None:
        found = self._orders(t.payment_orders.c.id == order_id, t.payment_orders.c.id)
        return found[0] if found else None

    def _orders(self, where: Any, order: Any) -> list[PaymentOrderRecord]:
        rows = self.conn.execute(select(t.payment_orders).where(where).order_by(order))
        plain = (self._open(t.payment_orders, r) for r in rows)
        return [PaymentOrderRecord(**{k: v for k, v in p.items() if k != "insurer_id"}) for p in plain if p]

    # -- accounts and sessions -----------------------------------------------------------
    def account_by_username(self, username: str) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.username == username)).first()
        return Account(**row._mapping) if row else None

    def account(self, account_id: int) -> Account | None:
        row = self.conn.execute(_ACCOUNT, {"account_id": account_id}).first()
        return Account(**row._mapping) if row else None

    def add_account(self, account: Account) -> int:
        values = {k: getattr(account, k) for k in Account.__slots__ if k != "id"}
        return self._insert(t.accounts, values, "username")

    def set_totp_last_step(self, account_id: int, step: int) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(totp_last_step=step))

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(password_hash=password_hash))

    def add_session(self, account_id: int, token_hash: str, created_at: datetime, expires_at: datetime,
                    aal: str = "password_totp") -> int:
        return self._insert(t.sessions, {
            "account_id": account_id, "token_hash": token_hash, "created_at": created_at,
            "last_seen_at": created_at, "expires_at": expires_at, "revoked": False, "aal": aal,
        }, "token")

    def session_by_token_hash(self, token_hash: str) -> tuple[Session, Account] | None:
        rows = _SESSION_FAST.all(self.conn, {"token_hash": token_hash})
        if not rows:
            return None
        row = rows[0]
        account = dict(zip(_ACCOUNT_COLUMNS, row[7:], strict=True))
        return Session(*row[:7]), Account(**{name: account[name] for name in Account.__slots__})

    def touch_session(self, session_id: int, at: datetime) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(last_seen_at=at))

    def revoke_session(self, session_id: int) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(revoked=True))

    def live_sessions_of(self, account_id: int, at: datetime) -> list[Session]:
        c = t.sessions.c
        rows = self.conn.execute(select(c.id, c.account_id, c.created_at, c.last_seen_at, c.expires_at, c.revoked,
                                        c.aal).where(c.account_id == account_id, c.revoked.is_(False),
                                                     c.expires_at > at).order_by(c.id))
        return [Session(*row) for row in rows]

    def revoke_sessions_of(self, account_id: int) -> int:
        return int(self.conn.execute(update(t.sessions).where(t.sessions.c.account_id == account_id,
                                                              t.sessions.c.revoked.is_(False))
                                     .values(revoked=True)).rowcount)

    def revoke_all_sessions(self) -> int:
        return int(self.conn.execute(update(t.sessions).where(t.sessions.c.revoked.is_(False))
                                     .values(revoked=True)).rowcount)

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(disabled=disabled))

    # -- bank details changes and notices ------------------------------------------------
    def add_bank_change(self, professional_id: int, iban: str, bic: str, requested_at: datetime,
                        effective_at: datetime, requested_by: int) -> int:
        return self._insert_sealed(t.bank_detail_changes, {
            "professional_id": professional_id, "iban": iban, "bic": bic, "requested_at": requested_at,
            "effective_at": effective_at, "requested_by": requested_by, "cancelled": False, "applied": False,
        }, "iban")

    def bank_changes(self, professional_id: int) -> list[BankChange]:
        c = t.bank_detail_changes.c
        rows = self.conn.execute(select(c.id, c.professional_id, c.iban_enc, c.bic, c.requested_at, c.effective_at,
                                        c.cancelled, c.applied).where(c.professional_id == professional_id)
                                 .order_by(c.id))
        plain = (self._open(t.bank_detail_changes, r) for r in rows)
        return [BankChange(**p) for p in plain if p]

    def cancel_bank_change(self, professional_id: int, change_id: int) -> bool:
        c = t.bank_detail_changes.c
        result = self.conn.execute(update(t.bank_detail_changes).where(
            c.id == change_id, c.professional_id == professional_id, c.applied.is_(False), c.cancelled.is_(False))
            .values(cancelled=True))
        return result.rowcount == 1

    def apply_due_bank_changes(self, professional_id: int, at: datetime) -> None:
        due = [ch for ch in self.bank_changes(professional_id)
               if not ch.cancelled and not ch.applied and ch.effective_at <= at]
        if not due:
            return
        latest = due[-1]
        self._reseal(t.professionals, {"id": professional_id, "iban": latest.iban, "bic": latest.bic})
        self.conn.execute(update(t.bank_detail_changes).where(
            t.bank_detail_changes.c.id.in_([ch.id for ch in due])).values(applied=True))

    def add_notification(self, professional_id: int, kind: str, text: str, at: datetime) -> None:
        self.conn.execute(insert(t.notifications).values(professional_id=professional_id, kind=kind, text=text,
                                                         created_at=at))

    def notifications_of(self, professional_id: int) -> list[tuple[str, str, datetime]]:
        rows = self.conn.execute(select(t.notifications.c.kind, t.notifications.c.text, t.notifications.c.created_at)
                                 .where(t.notifications.c.professional_id == professional_id)
                                 .order_by(t.notifications.c.id))
        return [(r[0], r[1], r[2]) for r in rows]

    # -- OpenID Connect -------------------------------------------------------------------
    def add_oidc_state(self, state_hash: str, nonce: str, verifier: str, expires_at: datetime) -> None:
        self.conn.execute(insert(t.oidc_states).values(state_hash=state_hash, nonce=nonce, verifier=verifier,
                                                       expires_at=expires_at, used=False))

    def take_oidc_state(self, state_hash: str, at: datetime) -> tuple[str, str] | None:
        c = t.oidc_states.c
        where = and_(c.state_hash == state_hash, c.used.is_(False), c.expires_at > at)
        row = self.conn.execute(select(c.nonce, c.verifier).where(where)).first()
        if row is None or self.conn.execute(update(t.oidc_states).where(where).values(used=True)).rowcount != 1:
            return None
        return row[0], row[1]

    def account_of_professional(self, professional_id: int) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.professional_id == professional_id,
                                                         t.accounts.c.role == "professional")
                                .order_by(t.accounts.c.id).limit(1)).first()
        return Account(**row._mapping) if row else None

    # -- sign-in failures ----------------------------------------------------------------
    def failures(self, key: str) -> tuple[int, datetime, datetime] | None:
        row = self.conn.execute(select(t.signin_failures.c.failures, t.signin_failures.c.window_start,
                                       t.signin_failures.c.last_failure).where(t.signin_failures.c.key == key)).first()
        return (row[0], row[1], row[2]) if row else None

    def record_failure(self, key: str, at: datetime, window: timedelta) -> None:
        current = self.failures(key)
        if current is None:
            self.conn.execute(insert(t.signin_failures).values(key=key, failures=1, window_start=at, last_failure=at))
        elif at - current[1] > window:
            self.conn.execute(update(t.signin_failures).where(t.signin_failures.c.key == key)
                              .values(failures=1, window_start=at, last_failure=at))
        else:
            self.conn.execute(update(t.signin_failures).where(t.signin_failures.c.key == key)
                              .values(failures=t.signin_failures.c.failures + 1, last_failure=at))

    def clear_failures(self, key: str) -> None:
        self.conn.execute(delete(t.signin_failures).where(t.signin_failures.c.key == key))

    # -- passkeys ------------------------------------------------------------------------
    def add_enrolment_code(self, code_hash: str, account_id: int, expires_at: datetime) -> None:
        self.conn.execute(insert(t.enrolment_codes).values(code_hash=code_hash, account_id=account_id,
                                                           expires_at=expires_at, used=False))

    def enrolment_account(self, code_hash: str, at: datetime) -> int | None:
        return self.conn.execute(select(t.enrolment_codes.c.account_id).where(
            t.enrolment_codes.c.code_hash == code_hash, t.enrolment_codes.c.used.is_(False),
            t.enrolment_codes.c.expires_at > at)).scalar()

    def use_enrolment_code(self, code_hash: str) -> bool:
        result = self.conn.execute(update(t.enrolment_codes).where(
            t.enrolment_codes.c.code_hash == code_hash, t.enrolment_codes.c.used.is_(False)).values(used=True))
        return result.rowcount == 1

    def add_challenge(self, challenge_hash: str, purpose: str, account_id: int | None, expires_at: datetime) -> None:
        self.conn.execute(insert(t.webauthn_challenges).values(challenge_hash=challenge_hash, purpose=purpose,
                                                               account_id=account_id, expires_at=expires_at,
                                                               used=False))

    def take_challenge(self, challenge_hash: str, purpose: str, at: datetime) -> tuple[bool, int | None]:
        c = t.webauthn_challenges.c
        where = and_(c.challenge_hash == challenge_hash, c.purpose == purpose, c.used.is_(False), c.expires_at > at)
        account_id = self.conn.execute(select(c.account_id).where(where)).first()
        if account_id is None or self.conn.execute(update(t.webauthn_challenges).where(where)
                                                   .values(used=True)).rowcount != 1:
            return False, None
        return True, account_id[0]

    def add_passkey(self, account_id: int, credential_id: str, public_key: bytes, sign_count: int,
                    at: datetime) -> int:
        return self._insert(t.passkeys, {
            "account_id": account_id, "credential_id": credential_id,
            "public_key": base64.b64encode(public_key).decode(), "sign_count": sign_count, "created_at": at,
            "revoked": False,
        }, "credential")

    def _passkey(self, row: Any) -> Passkey:
        return Passkey(row.id, row.account_id, row.credential_id, base64.b64decode(row.public_key), row.sign_count,
                       row.created_at, row.revoked)

    def passkey_by_credential_id(self, credential_id: str) -> Passkey | None:
        row = self.conn.execute(select(t.passkeys).where(t.passkeys.c.credential_id == credential_id)).first()
        return self._passkey(row) if row else None

    def passkeys_of(self, account_id: int) -> list[Passkey]:
        rows = self.conn.execute(select(t.passkeys).where(t.passkeys.c.account_id == account_id)
                                 .order_by(t.passkeys.c.id))
        return [self._passkey(r) for r in rows]

    def set_sign_count(self, passkey_id: int, sign_count: int) -> None:
        self.conn.execute(update(t.passkeys).where(t.passkeys.c.id == passkey_id).values(sign_count=sign_count))

    def revoke_passkey(self, account_id: int, passkey_id: int) -> bool:
        result = self.conn.execute(update(t.passkeys).where(
            t.passkeys.c.id == passkey_id, t.passkeys.c.account_id == account_id).values(revoked=True))
        return result.rowcount == 1


class SqlUnitOfWork:
    """``UnitOfWork`` over an engine: one connection and one transaction per call."""

    def __init__(self, engine: Engine, protection: Protection, drop_events: bool = False) -> None:
        self.engine = engine
        self.protection = protection
        self.insurers = InsurerCache()
        self.drop_events = drop_events

    @contextmanager
    def __call__(self, *, readonly: bool = False) -> Iterator[Repositories]:
        with self.engine.connect() as conn:
            if readonly:
                # SQLite: a plain (deferred) BEGIN, so readers never queue behind writers (WAL).
                conn = conn.execution_options(tiers_readonly=True)
            with conn.begin():
                repos = SqlRepositories(conn, self.protection, self.insurers, self.drop_events)
                yield repos
                # Fail closed: the events go in the same transaction as the access they record.
                try:
                    repos.flush_events()
                except SQLAlchemyError as exc:
                    raise LogUnavailable() from exc
