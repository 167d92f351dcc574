"""What the use cases need from the outside world: one port (a typed Protocol) per capability.

Contracts every implementation keeps:

- A ``UnitOfWork`` call opens one transaction and yields a ``Transaction``: the ports of every
  capability, all over that one transaction. Leaving the ``with`` block normally commits; an
  exception rolls everything back, so a use case never leaves a half-written record.
- Getters return None when nothing matches (never raise for a missing row). Writers raise
  ``Conflict`` when a uniqueness rule would be broken, and then write nothing.
- Every datetime crossing a port is timezone-aware (UTC); money is ``Decimal``.

A use case declares the ports it uses as a narrower Protocol of its own (``RightsStore`` in
``services/rights.py``, say): it can be tested with in-memory fakes of those ports only
(tests/fakes/), while the SQL store (``store/``) implements them all.

The ports: ``care`` (reference data, professionals, beneficiaries and rights, presence proofs,
claims, payments, bank details), ``identity`` (accounts, sessions, sign-in failures, passkeys and
OIDC), ``oversight`` (the access log and its checkpoints, detection, containments, keys),
``outside`` (payment files, bulk loading), ``lists`` (pages of invoices, quotes and runs), ``members`` (membership files),
``networks`` (care networks, their dated members and price caps), ``delivery`` (destinations,
the outbox, the connectors). The records they exchange are in
``services/records.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from tierspayant.services.ports.care import (
    BankDetails,
    Beneficiaries,
    Claims,
    Payments,
    PresenceLedger,
    Professionals,
    ReferenceData,
)
from tierspayant.services.ports.delivery import Destinations, Outbox
from tierspayant.services.ports.identity import Accounts, Passkeys, Sessions, SignInFailures
from tierspayant.services.ports.lists import Lists
from tierspayant.services.ports.members import Memberships
from tierspayant.services.ports.networks import Networks
from tierspayant.services.ports.oversight import (
    AccessLog,
    Checkpoints,
    Containments,
    DetectionCounters,
    Incidents,
    KeyStore,
)

__all__ = [
    "AccessLog",
    "Accounts",
    "BankDetails",
    "Beneficiaries",
    "Checkpoints",
    "Claims",
    "Clock",
    "Conflict",
    "Containments",
    "Destinations",
    "DetectionCounters",
    "HasAccounts",
    "HasBankDetails",
    "HasBeneficiaries",
    "HasCheckpoints",
    "HasClaims",
    "HasContainments",
    "HasDestinations",
    "HasDetection",
    "HasIncidents",
    "HasKeys",
    "HasLists",
    "HasLog",
    "HasMemberships",
    "HasNetworks",
    "HasOutbox",
    "HasPasskeys",
    "HasPayments",
    "HasPresence",
    "HasProfessionals",
    "HasReference",
    "HasSessions",
    "HasSignInFailures",
    "Incidents",
    "KeyStore",
    "Lists",
    "LogUnavailable",
    "Memberships",
    "Networks",
    "Outbox",
    "Passkeys",
    "Payments",
    "PresenceLedger",
    "Professionals",
    "ReferenceData",
    "Sessions",
    "SignInFailures",
    "Transaction",
    "UnitOfWork",
    "WriteQueue",
]


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
        ...


# One protocol per port a transaction offers: a use case combines the ones it uses.
class HasReference(Protocol):
    reference: ReferenceData


class HasProfessionals(Protocol):
    professionals: Professionals


class HasBeneficiaries(Protocol):
    beneficiaries: Beneficiaries


class HasPresence(Protocol):
    presence: PresenceLedger


class HasClaims(Protocol):
    claims: Claims


class HasPayments(Protocol):
    payments: Payments


class HasBankDetails(Protocol):
    bank_details: BankDetails


class HasAccounts(Protocol):
    accounts: Accounts


class HasSessions(Protocol):
    sessions: Sessions


class HasSignInFailures(Protocol):
    sign_in_failures: SignInFailures


class HasPasskeys(Protocol):
    passkeys: Passkeys


class HasLog(Protocol):
    log: AccessLog


class HasLists(Protocol):
    lists: Lists


class HasMemberships(Protocol):
    memberships: Memberships


class HasNetworks(Protocol):
    networks: Networks


class HasCheckpoints(Protocol):
    checkpoints: Checkpoints


class HasDetection(Protocol):
    detection: DetectionCounters


class HasContainments(Protocol):
    containments: Containments


class HasKeys(Protocol):
    keys: KeyStore


class HasIncidents(Protocol):
    incidents: Incidents


class HasDestinations(Protocol):
    destinations: Destinations


class HasOutbox(Protocol):
    outbox: Outbox


class Transaction(HasReference, HasProfessionals, HasBeneficiaries, HasPresence, HasClaims, HasPayments, HasBankDetails, HasAccounts, HasSessions, HasSignInFailures, HasPasskeys, HasLog, HasCheckpoints, HasDetection, HasContainments, HasKeys, HasIncidents, HasLists, HasMemberships, HasNetworks, HasDestinations, HasOutbox, Protocol):
    """Every port, over one transaction (what the SQL unit of work yields). A use case declares
    the ports it uses by inheriting the ``Has*`` protocols it needs (``services/rights.py``)."""


S = TypeVar("S", covariant=True)
T = TypeVar("T")


class UnitOfWork(Protocol[S]):
    """Opens transactions; ``S`` is what a transaction offers (a use case's own Protocol of
    the ports it uses, or ``Transaction``)."""

    def __call__(self, *, readonly: bool = False) -> AbstractContextManager[S]:
        """One transaction: commit on normal exit, roll back on exception. ``readonly=True``
        promises no write, so the store may run it without taking the write lock (readers never
        wait for writers); writing in a read-only unit of work is an error. Raises
        ``LogUnavailable`` at commit when the access events could not be written (nothing of
        the transaction is kept)."""
        ...


class WriteQueue(Protocol[S]):
    """Group commit: small writes from concurrent requests share one transaction."""

    async def run(self, work: Callable[[S], T]) -> T:
        """Run ``work(tx)`` in a write transaction together with the other works submitted
        meanwhile, and return its result once that transaction has committed: a caller never
        answers before its write is durable. If the shared transaction fails, every work is
        retried alone, so one bad write cannot fail the others; ``work`` must therefore be safe
        to run twice when the first run was rolled back (a pure insert is). Raises what ``work``
        raised when it fails alone."""
        ...

    @property
    def depth(self) -> int:
        """Writes waiting for the next shared transaction (a gauge of /metrics)."""
        ...
