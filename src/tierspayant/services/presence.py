"""The patient's side of presence proofs, simulated: what an insurer's app or attestation QR
code would issue when the patient is at the counter (``tiers presence issue``)."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from tierspayant.domain.identifiers import parse_amc_number, parse_member_number, parse_nir
from tierspayant.security.policy import NotFound
from tierspayant.security.presence import PresenceIssuer
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.ports import Clock, HasBeneficiaries, HasReference, UnitOfWork
from tierspayant.services.rights import matching


class PresenceStore(HasReference, HasBeneficiaries, Protocol):
    """The ports this use case works with (services/ports/)."""


class PresenceService(UseCase[PresenceStore]):
    def __init__(self, uow: UnitOfWork[PresenceStore], clock: Clock, recorder: Recorder, issuer: PresenceIssuer) -> None:
        super().__init__(uow, clock, recorder)
        self.issuer = issuer

    def issue(self, amc_number: str, member_number: str, nir: str, birth_date: date, typed: bool = False) -> str:
        """A proof for the beneficiary these identifiers designate (NotFound if none); ``typed``:
        in the form a person types at the counter (grouped, with a check character)."""
        amc, member, nir = parse_amc_number(amc_number), parse_member_number(member_number), parse_nir(nir)
        with self.uow(readonly=True) as tx:
            insurer = tx.reference.insurer_by_amc(amc)
            found = tx.beneficiaries.beneficiaries_with_rights(insurer.id, nir) if insurer else []
        beneficiary, _ = matching(found, member, birth_date)
        if insurer is None or beneficiary is None:
            raise NotFound()
        issue = self.issuer.issue_typed if typed else self.issuer.issue
        return issue(amc, self.recorder.pseudonym(insurer.id, beneficiary.id), self.clock.now())
