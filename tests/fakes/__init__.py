"""In-memory fakes of every port (services/ports/), for the use cases' unit tier: no socket, no
file, no sleep. ``FakeUnitOfWork`` keeps the transaction contract -- a block that raises leaves
the state as it was -- and the access log's fail-closed flush at commit. The same contract
tests run against these fakes and against the SQL store on SQLite and PostgreSQL
(tests/contracts.py), so a fake cannot drift from what the store does."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from tests.fakes.care import (
    CareState,
    FakeBankDetails,
    FakeBeneficiaries,
    FakeClaims,
    FakePayments,
    FakePresenceLedger,
    FakeProfessionals,
    FakeReferenceData,
)
from tests.fakes.identity import FakeAccounts, FakePasskeys, FakeSessions, FakeSignInFailures, IdentityState
from tests.fakes.oversight import (
    FakeAccessLog,
    FakeCheckpoints,
    FakeContainments,
    FakeDetectionCounters,
    FakeKeyStore,
    OversightState,
)

T = TypeVar("T")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeClock:
    """The injected clock, moved by hand."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


@dataclass
class FakeState:
    care: CareState = field(default_factory=CareState)
    identity: IdentityState = field(default_factory=IdentityState)
    oversight: OversightState = field(default_factory=OversightState)


class FakeTransaction:
    """Every port over one in-memory state (``services.ports.Transaction``)."""

    def __init__(self, state: FakeState) -> None:
        care, identity, oversight = state.care, state.identity, state.oversight
        self.reference = FakeReferenceData(care)
        self.professionals = FakeProfessionals(care)
        self.beneficiaries = FakeBeneficiaries(care)
        self.presence = FakePresenceLedger(care)
        self.claims = FakeClaims(care)
        self.payments = FakePayments(care)
        self.bank_details = FakeBankDetails(care)
        self.accounts = FakeAccounts(identity)
        self.sessions = FakeSessions(identity)
        self.sign_in_failures = FakeSignInFailures(identity)
        self.passkeys = FakePasskeys(identity)
        self.log = FakeAccessLog(oversight)
        self.checkpoints = FakeCheckpoints(oversight)
        self.detection = FakeDetectionCounters(oversight)
        self.containments = FakeContainments(
            oversight, {a.id: a.organisation_id for a in identity.accounts.values()})
        self.keys = FakeKeyStore(oversight)


class FakeUnitOfWork:
    """Transactions over one ``FakeState``: commit on normal exit, roll back (the state as it
    was) on exception. ``commits`` counts the committed write transactions."""

    def __init__(self, state: FakeState | None = None) -> None:
        self.state = state or FakeState()
        self.commits = 0
        #: Set to make the next commit's log flush fail (fail closed: nothing is kept).
        self.fail_log = False

    @contextmanager
    def __call__(self, *, readonly: bool = False) -> Iterator[FakeTransaction]:
        # A read-only transaction writes nothing, so there is nothing to restore (checked below).
        before = None if readonly else copy.deepcopy(self.state)
        tx = FakeTransaction(self.state)
        try:
            yield tx
            if readonly and tx.log.pending:
                raise AssertionError("a read-only unit of work wrote access events")
            if self.fail_log and tx.log.pending:
                from tierspayant.services.ports import LogUnavailable

                raise LogUnavailable()
            tx.log.flush()
        except BaseException:
            if before is not None:
                self.state.__dict__.update(before.__dict__)
            raise
        if not readonly:
            self.commits += 1


class FakeWriteQueue:
    """Group commit without the event loop's batching: each work in its own transaction (the
    contract a caller sees is the same: its result once committed)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    async def run(self, work: Callable[[FakeTransaction], T]) -> T:
        with self.uow() as tx:
            return work(tx)
