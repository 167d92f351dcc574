"""The SQL unit of work: one connection, one transaction, every port over it
(``services.ports.UnitOfWork`` and ``Transaction``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
    """Every capability's SQL over one connection inside one transaction. Each port is made on
    first use (``__getattr__``): a unit of work uses two or three of the twenty-odd, and making
    them all cost 5 % of a worker's time on the rights check, three units of work a check
    (py-spy, issue 19)."""

    reference: ReferenceData
    professionals: Professionals
    beneficiaries: Beneficiaries
    presence: PresenceLedger
    claims: Claims
    payments: Payments
    bank_details: BankDetails
    accounts: Accounts
    sessions: Sessions
    sign_in_failures: SignInFailures
    passkeys: Passkeys
    checkpoints: Checkpoints
    detection: DetectionCounters
    containments: Containments
    keys: KeyStore
    incidents: Incidents
    lists: Lists
    memberships: Memberships
    networks: Networks
    destinations: Destinations
    outbox: Outbox
    log: AccessLog
    _log: SqlAccessLog

    def __init__(self, conn: Connection, protection: Protection, insurers: InsurerCache,
                 drop_events: bool = False) -> None:
        self.conn = conn
        self.protection = protection
        self.insurers = insurers
        self.drop_events = drop_events

    def __getattr__(self, name: str) -> Any:
        make = _PORTS.get(name)
        if make is None:
            raise AttributeError(name)
        port = self.__dict__[name] = make(self)
        return port

    def flush_events(self) -> None:
        """Write the access events queued in this transaction (just before it commits)."""
        log = self.__dict__.get("_log")
        if log is not None:
            log.flush_events()


#: How each port of a transaction is made, on first use.
_PORTS: dict[str, Callable[[SqlTransaction], Any]] = {
    "log": lambda tx: tx._log,  # the port, over the SQL log that flushes at commit
    "reference": lambda tx: SqlReferenceData(tx.conn, tx.protection, tx.insurers),
    "professionals": lambda tx: SqlProfessionals(tx.conn, tx.protection),
    "beneficiaries": lambda tx: SqlBeneficiaries(tx.conn, tx.protection),
    "presence": lambda tx: SqlPresenceLedger(tx.conn, tx.protection),
    "claims": lambda tx: SqlClaims(tx.conn, tx.protection),
    "payments": lambda tx: SqlPayments(tx.conn, tx.protection),
    "bank_details": lambda tx: SqlBankDetails(tx.conn, tx.protection),
    "accounts": lambda tx: SqlAccounts(tx.conn, tx.protection),
    "sessions": lambda tx: SqlSessions(tx.conn, tx.protection),
    "sign_in_failures": lambda tx: SqlSignInFailures(tx.conn, tx.protection),
    "passkeys": lambda tx: SqlPasskeys(tx.conn, tx.protection),
    "checkpoints": lambda tx: SqlCheckpoints(tx.conn, tx.protection),
    "detection": lambda tx: SqlDetectionCounters(tx.conn, tx.protection),
    "containments": lambda tx: SqlContainments(tx.conn, tx.protection),
    "keys": lambda tx: SqlKeyStore(tx.conn, tx.protection),
    "incidents": lambda tx: SqlIncidents(tx.conn, tx.protection),
    "lists": lambda tx: SqlLists(tx.conn, tx.protection),
    "memberships": lambda tx: SqlMemberships(tx.conn, tx.protection),
    "networks": lambda tx: SqlNetworks(tx.conn, tx.protection),
    "destinations": lambda tx: SqlDestinations(tx.conn, tx.protection),
    "outbox": lambda tx: SqlOutbox(tx.conn, tx.protection),
    "_log": lambda tx: SqlAccessLog(tx.conn, tx.protection, tx.drop_events),
}


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
