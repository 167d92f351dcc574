"""Rights check (Inter-AMC IDB): is this patient covered for this care on this date?

The answer is minimal (PRODUCT.md promise 2): covered or not, an engagement number that
guarantees payment, its validity -- never a name, the contract, the NIR or family members.
Unknown insurer, unknown beneficiary, wrong birth date, wrong member number and not covered all
give the *same* answer (THREATS.md T3), after the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tierspayant.domain.identifiers import parse_amc_number, parse_member_number, parse_nir
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal
from tierspayant.security.tokens import new_reference
from tierspayant.services.common import check_date_of_care, require_professional
from tierspayant.services.ports import Clock, Engagement, UnitOfWork, WriteQueue


@dataclass(frozen=True, slots=True)
class RightsRequest:
    amc_number: str
    member_number: str
    nir: str
    birth_date: date
    date_of_care: date
    category: CareCategory


@dataclass(frozen=True, slots=True)
class RightsAnswer:
    covered: bool
    engagement_number: str | None
    valid_until: date | None


NOT_COVERED = RightsAnswer(False, None, None)


class RightsService:
    def __init__(self, uow: UnitOfWork, clock: Clock, writes: WriteQueue) -> None:
        self.uow = uow
        self.clock = clock
        self.writes = writes

    async def check(self, principal: Principal, request: RightsRequest) -> RightsAnswer:
        """Reads run inline (a few indexed lookups); the engagement is written by group commit
        and is durable before the answer leaves."""
        professional_id = require_professional(principal)
        amc = parse_amc_number(request.amc_number)
        member = parse_member_number(request.member_number)
        nir = parse_nir(request.nir)
        now = self.clock.now()
        check_date_of_care(request.date_of_care, now.date())
        with self.uow(readonly=True) as repos:
            insurer = repos.insurer_by_amc(amc)
            if insurer is None:
                return NOT_COVERED
            candidates = repos.beneficiaries_with_rights(insurer.id, nir)
        match, periods = None, []
        for candidate, candidate_periods in candidates:
            # Both member number and birth date must match what the patient presents.
            if candidate.member_number == member and candidate.birth_date == request.birth_date:
                match, periods = candidate, candidate_periods
        if match is None:
            return NOT_COVERED
        if not any(p.covers(request.date_of_care, request.category) for p in periods):
            return NOT_COVERED
        valid_until = request.date_of_care + timedelta(days=insurer.engagement_validity_days)
        number = new_reference("E")
        engagement = Engagement(0, number, insurer.id, match.id, professional_id, request.category,
                                request.date_of_care, valid_until)
        await self.writes.run(lambda repos: repos.add_engagement(engagement, now))
        return RightsAnswer(True, number, valid_until)
