"""The use cases over in-memory fakes of their ports (tests/fakes/): an injected clock, no
socket, no file, no sleep. While a test runs (its call phase), opening a socket fails
(pytest-socket) and so does opening any file outside the interpreter's and the project's code
(an audit hook), so that a use case that reached for I/O behind its ports fails here."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytest_socket import disable_socket, enable_socket

from tests.fakes import FakeClock, FakeUnitOfWork, FakeWriteQueue
from tests.fakes.care import FakePaymentFileWriter
from tierspayant.detection.thresholds import Thresholds
from tierspayant.domain.contracts import Contract
from tierspayant.domain.identifiers import nir_key
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal, Role
from tierspayant.security.presence import PresenceIssuer, PresenceVerifier
from tierspayant.security.pseudonyms import Pseudonymizer
from tierspayant.security.webauthn import PasskeyPolicy
from tierspayant.services.accounts import AccountsService
from tierspayant.services.audit import Recorder
from tierspayant.services.bank_details import BankDetailsService
from tierspayant.services.calculation import CalculationService
from tierspayant.services.claims import ClaimsService
from tierspayant.services.detection import DetectionService
from tierspayant.services.keys import KeysService
from tierspayant.services.onboarding import OnboardingService
from tierspayant.services.payments import PaymentsService
from tierspayant.services.presence import PresenceService
from tierspayant.services.records import Account, Beneficiary, Organisation, Professional, RightsPeriod
from tierspayant.services.review import ReviewService
from tierspayant.services.rights import RightsService
from tierspayant.simulate.reference_data import default_codes

T = TypeVar("T")
AMC = "990000011"
ORIGIN = "https://portail.tierspayant.test"
_PROJECT = Path(__file__).resolve().parents[3]
#: Where code is read from (imports done lazily inside a test, tracebacks): nothing else.
_CODE_ROOTS = (str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve()), str(_PROJECT / "src"),
               str(_PROJECT / "tests"))
_guard = {"on": False}


def _no_files(event: str, args: tuple[Any, ...]) -> None:
    if _guard["on"] and event == "open" and isinstance(args[0], (str, bytes, Path)):
        path = str(Path(args[0] if not isinstance(args[0], bytes) else args[0].decode()).resolve())
        if not path.startswith(_CODE_ROOTS) or (len(args) > 1 and isinstance(args[1], str) and "w" in args[1]):
            raise OSError(f"the use-case unit tier opens no file: {path}")


sys.addaudithook(_no_files)
_CODES = default_codes()  # read once, before any test runs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    disable_socket()
    _guard["on"] = True
    try:
        yield
    finally:
        _guard["on"] = False
        enable_socket()


def synthetic_nir(n: int) -> str:
    """A valid synthetic NIR (mod-97 key), never a real person's; each in its own neighbourhood
    (sex, year, month, place: detection reads sequential neighbours as guessing)."""
    first13 = f"{1 + n % 2}{50 + n % 40:02d}{1 + n % 12:02d}75{n:03d}001"
    return first13 + nir_key(first13)


@dataclass
class Stack:
    """The use cases wired to fakes, and the seeded ids."""

    uow: FakeUnitOfWork
    clock: FakeClock
    recorder: Recorder
    issuer: PresenceIssuer
    rights: RightsService
    detection: DetectionService
    accounts: AccountsService
    calculation: CalculationService
    claims: ClaimsService
    bank_details: BankDetailsService
    presence: PresenceService
    keys: KeysService
    onboarding: OnboardingService
    payments: PaymentsService
    review: ReviewService
    insurer_id: int
    organisation_id: int
    professional_id: int
    patients: list[dict[str, Any]]
    #: Made before the test runs: an event loop opens a socket pair, and sockets are off then.
    loop: asyncio.AbstractEventLoop
    sessions_made: int = 0
    invoices: int = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def professional(self, account: str = "optician") -> Principal:
        """A passkey session of one of the organisation's professional accounts."""
        with self.uow(readonly=True) as tx:
            found = tx.accounts.account_by_username(account)
        assert found is not None
        with self.uow() as tx:
            self.sessions_made += 1
            session = tx.sessions.add_session(found.id, f"hash-{account}-{self.sessions_made}", self.clock.now(),
                                              self.clock.now() + timedelta(hours=12), "passkey")
        return Principal(found.id, session, Role.PROFESSIONAL, found.organisation_id, found.professional_id,
                         aal="passkey", request_id="test")

    def set_detection(self, config: dict[str, Any]) -> None:
        """The insurer's detection overrides (``insurers.detection``)."""
        insurers = self.uow.state.insurers
        insurers[self.insurer_id] = replace(insurers[self.insurer_id], detection=config)

    def set_quota(self, quota: int) -> None:
        insurers = self.uow.state.insurers
        insurers[self.insurer_id] = replace(insurers[self.insurer_id], proofless_daily_quota=quota)


@pytest.fixture()
def stack() -> Iterator[Stack]:
    uow, clock = FakeUnitOfWork(), FakeClock()
    recorder = Recorder(Pseudonymizer(b"p" * 32))
    issuer = PresenceIssuer(b"s" * 32)
    detection = DetectionService(uow, clock, recorder, Thresholds())
    accounts = AccountsService(uow, clock, PasskeyPolicy("portail.tierspayant.test", "tierspayant", ORIGIN),
                               None, detection, recorder=recorder)
    with uow() as tx:
        insurer_id = tx.reference.add_insurer(AMC, "Mutuelle test", 30, 180)
        contract_id = tx.reference.add_contract(insurer_id, Contract("C1", "Contrat responsable test"))
        for row in _CODES:
            tx.reference.add_reference_code(row)
        organisation_id = tx.professionals.add_organisation(Organisation(0, "FINESS", "750000001", "Optique test"))
        professional_id = tx.professionals.add_professional(Professional(
            0, organisation_id, "10000000001", None, "751234567", "optician", "Opticien test",
            "FR7630006000011234567890189", "AGRIFRPPXXX", True))
        for name in ("optician", "colleague"):
            tx.accounts.add_account(Account(0, name, "unused", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0, "professional",
                                            organisation_id, professional_id, None, False))
        patients = []
        for n in range(80):
            born = date(1985, 1, 1) + timedelta(days=n)
            beneficiary = Beneficiary(0, insurer_id, contract_id, f"M{n:06d}", 1, synthetic_nir(n), born,
                                      "Nom", "Prenom")
            beneficiary_id = tx.beneficiaries.add_beneficiary(beneficiary)
            end = date(2025, 12, 31) if n % 10 == 9 else None  # every tenth: rights ended
            tx.beneficiaries.add_rights_period(beneficiary_id, RightsPeriod(
                date(2025, 1, 1), end, frozenset(CareCategory)))
            patients.append({"amc_number": AMC, "member_number": beneficiary.member_number, "nir": beneficiary.nir,
                             "birth_date": born, "covered": end is None, "id": beneficiary_id})
    made = Stack(uow, clock, recorder, issuer,
                 RightsService(uow, clock, FakeWriteQueue(uow), recorder, PresenceVerifier(issuer.public_key), detection),
                 detection, accounts, CalculationService(uow, clock, recorder, detection), ClaimsService(uow, clock, recorder, detection),
                 BankDetailsService(uow, clock, accounts, timedelta(hours=72)),
                 PresenceService(uow, clock, recorder, issuer), KeysService(uow, clock, recorder),
                 OnboardingService(uow, clock, recorder, accounts),
                 PaymentsService(uow, clock, FakePaymentFileWriter(), recorder), ReviewService(uow, clock, recorder, detection),
                 insurer_id, organisation_id, professional_id, patients, asyncio.new_event_loop())
    yield made
    made.loop.close()


