"""In-memory fakes of every port (services/ports/), for the use cases' unit tier: no socket, no
file, no sleep. ``FakeUnitOfWork`` keeps the transaction contract -- a block that raises leaves
the state as it was -- and the access log's fail-closed flush at commit. The same contract
tests run against these fakes and against the SQL store on SQLite and PostgreSQL
(tests/contracts.py), so a fake cannot drift from what the store does."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from tests.fakes.care import (
    FakeBankDetails,
    FakeBeneficiaries,
    FakeClaims,
    FakePayments,
    FakePresenceLedger,
    FakeProfessionals,
    FakeReferenceData,
)
from tests.fakes.delivery import FakeDestinations, FakeOutbox
from tests.fakes.identity import FakeAccounts, FakePasskeys, FakeSessions, FakeSignInFailures
from tests.fakes.networks import FakeNetworks
from tests.fakes.oversight import (
    FakeAccessLog,
    FakeCheckpoints,
    FakeContainments,
    FakeDetectionCounters,
    FakeKeyStore,
)
from tests.fakes.state import FakeState

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


class FakeTransaction:
    """Every port over one in-memory state (``services.ports.Transaction``)."""

    def __init__(self, state: FakeState) -> None:
        self.reference = FakeReferenceData(state)
        self.professionals = FakeProfessionals(state)
        self.beneficiaries = FakeBeneficiaries(state)
        self.presence = FakePresenceLedger(state)
        self.claims = FakeClaims(state)
        self.payments = FakePayments(state)
        self.bank_details = FakeBankDetails(state)
        self.accounts = FakeAccounts(state)
        self.sessions = FakeSessions(state)
        self.sign_in_failures = FakeSignInFailures(state)
        self.passkeys = FakePasskeys(state)
        self.log = FakeAccessLog(state)
        self.checkpoints = FakeCheckpoints(state)
        self.detection = FakeDetectionCounters(state)
        self.containments = FakeContainments(state)
        self.keys = FakeKeyStore(state)
        self.networks = FakeNetworks(state)
        self.destinations = FakeDestinations(state)
        self.outbox = FakeOutbox(state)


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
        before = None if readonly else copy.deepcopy(self.state)
        tx = FakeTransaction(self.state)
        if readonly:
            for name, port in vars(tx).items():
                setattr(tx, name, _ReadOnly(port))
        try:
            yield tx
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


#: How the ports' writing methods are named (services/ports/): a read-only transaction refuses them.
_WRITES = ("add_", "set_", "use_", "admit_", "revoke", "touch_", "record_", "clear_", "take_", "cancel_", "apply_",
           "attach_", "delete_", "finish_", "purge_", "lift_", "append_", "retire_", "approve_", "end_")
_WRITE_NAMES = frozenset({"rotate", "reencrypt", "shred"})


class _ReadOnly:
    """A port in a read-only transaction: its writing methods raise, as the SQL store's do."""

    def __init__(self, port: object) -> None:
        self._port = port

    def __getattr__(self, name: str) -> object:
        if name.startswith(_WRITES) or name in _WRITE_NAMES:
            raise RuntimeError(f"a read-only unit of work wrote ({name})")
        return getattr(self._port, name)


class FakeWriteQueue:
    """Group commit without the event loop's batching: each work in its own transaction (the
    contract a caller sees is the same: its result once committed)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def depth(self) -> int:
        return 0  # nothing waits: each work runs at once

    async def run(self, work: Callable[[FakeTransaction], T]) -> T:
        with self.uow() as tx:
            return work(tx)
