"""The SQL unit of work: one connection, one transaction, every port over it
(``services.ports.UnitOfWork`` and ``Transaction``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tierspayant.services.ports import (
    AccessLog,
    Accounts,
    BankDetails,
    Beneficiaries,
    Checkpoints,
    Claims,
    Containments,
    Destinations,
    DetectionCounters,
    Incidents,
    KeyStore,
    Lists,
    LogUnavailable,
    Memberships,
    Networks,
    Outbox,
    Passkeys,
    Payments,
    PresenceLedger,
    Professionals,
    ReferenceData,
    Sessions,
    SignInFailures,
)
from tierspayant.store.access_log import SqlAccessLog, SqlCheckpoints
from tierspayant.store.accounts import SqlAccounts, SqlSessions, SqlSignInFailures
from tierspayant.store.bank_details import SqlBankDetails
from tierspayant.store.beneficiaries import SqlBeneficiaries
from tierspayant.store.claims import SqlClaims
from tierspayant.store.database import reader_of
from tierspayant.store.delivery import SqlDestinations, SqlOutbox
from tierspayant.store.detection import SqlContainments, SqlDetectionCounters
from tierspayant.store.incidents import SqlIncidents
from tierspayant.store.keys import SqlKeyStore
from tierspayant.store.lists import SqlLists
from tierspayant.store.members import SqlMemberships
from tierspayant.store.networks import SqlNetworks
from tierspayant.store.passkeys import SqlPasskeys
from tierspayant.store.payments import SqlPayments
from tierspayant.store.presence import SqlPresenceLedger
from tierspayant.store.protection import Protection
from tierspayant.store.reference import InsurerCache, SqlProfessionals, SqlReferenceData


class SqlTransaction:
    """Every capability's SQL over one connection inside one transaction."""

    def __init__(self, conn: Connection, protection: Protection, insurers: InsurerCache,
                 drop_events: bool = False) -> None:
        self.reference: ReferenceData = SqlReferenceData(conn, protection, insurers)
        self.professionals: Professionals = SqlProfessionals(conn, protection)
        self.beneficiaries: Beneficiaries = SqlBeneficiaries(conn, protection)
        self.presence: PresenceLedger = SqlPresenceLedger(conn, protection)
        self.claims: Claims = SqlClaims(conn, protection)
        self.payments: Payments = SqlPayments(conn, protection)
        self.bank_details: BankDetails = SqlBankDetails(conn, protection)
        self.accounts: Accounts = SqlAccounts(conn, protection)
        self.sessions: Sessions = SqlSessions(conn, protection)
        self.sign_in_failures: SignInFailures = SqlSignInFailures(conn, protection)
        self.passkeys: Passkeys = SqlPasskeys(conn, protection)
        self._log = SqlAccessLog(conn, protection, drop_events)
        self.log: AccessLog = self._log
        self.checkpoints: Checkpoints = SqlCheckpoints(conn, protection)
        self.detection: DetectionCounters = SqlDetectionCounters(conn, protection)
        self.containments: Containments = SqlContainments(conn, protection)
        self.keys: KeyStore = SqlKeyStore(conn, protection)
        self.incidents: Incidents = SqlIncidents(conn, protection)
        self.lists: Lists = SqlLists(conn, protection)
        self.memberships: Memberships = SqlMemberships(conn, protection)
        self.networks: Networks = SqlNetworks(conn, protection)
        self.destinations: Destinations = SqlDestinations(conn, protection)
        self.outbox: Outbox = SqlOutbox(conn, protection)

    def flush_events(self) -> None:
        """Write the access events queued in this transaction (just before it commits)."""
        self._log.flush_events()


class SqlUnitOfWork:
    """``UnitOfWork[SqlTransaction]`` over an engine: one connection and one transaction per call."""

    def __init__(self, engine: Engine, protection: Protection, drop_events: bool = False,
                 insurers: InsurerCache | None = None) -> None:
        self.engine = engine
        self.reader = reader_of(engine) or engine
        self.protection = protection
        self.insurers = insurers or InsurerCache()
        self.drop_events = drop_events

    @contextmanager
    def __call__(self, *, readonly: bool = False) -> Iterator[SqlTransaction]:
        with (self.reader if readonly else self.engine).connect() as conn:
            if readonly:
                # SQLite: a plain (deferred) BEGIN, so readers never queue behind writers (WAL).
                # PostgreSQL: the reader's autocommit, read-only connections (store/database.py).
                conn = conn.execution_options(tiers_readonly=True)
            with conn.begin():
                tx = SqlTransaction(conn, self.protection, self.insurers, self.drop_events)
                yield tx
                # Fail closed: the events go in the same transaction as the access they record.
                try:
                    tx.flush_events()
                except SQLAlchemyError as exc:
                    raise LogUnavailable() from exc
