"""Rights check (Inter-AMC IDB): is this patient covered for this care on this date?

The answer is minimal (PRODUCT.md promise 2): covered or not, an engagement number that
guarantees payment, its validity -- never a name, the contract, the NIR or family members.
Unknown insurer, unknown beneficiary, wrong birth date, wrong member number and not covered all
give the *same* answer (THREATS.md T3), after the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tierspayant.audit.events import Category, Outcome, Tag
from tierspayant.domain.identifiers import parse_amc_number, parse_member_number, parse_nir
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal
from tierspayant.security.tokens import new_reference
from tierspayant.services.audit import Recorder
from tierspayant.services.common import check_date_of_care, require_professional
from tierspayant.services.ports import Clock, Engagement, Repositories, UnitOfWork, WriteQueue


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
PURPOSE = "tiers payant: rights check for care"


class RightsService:
    def __init__(self, uow: UnitOfWork, clock: Clock, writes: WriteQueue, recorder: Recorder) -> None:
        self.uow = uow
        self.clock = clock
        self.writes = writes
        self.recorder = recorder

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
            candidates = repos.beneficiaries_with_rights(insurer.id, nir) if insurer is not None else []
        match, periods = None, []
        for candidate, candidate_periods in candidates:
            # Both member number and birth date must match what the patient presents.
            if candidate.member_number == member and candidate.birth_date == request.birth_date:
                match, periods = candidate, candidate_periods
        covered = match is not None and any(p.covers(request.date_of_care, request.category) for p in periods)
        if insurer is None or match is None or not covered:
            # Recorded too (an attempt that matched nobody discloses nothing, but counts for
            # detection); the answer is the same whatever failed (THREATS.md T3).
            miss = self.recorder.event(
                principal, now, Tag.RIGHTS_CHECK, categories=(Category.COVERAGE,), purpose=PURPOSE,
                outcome=Outcome.NOT_FOUND if match is None else Outcome.REFUSED,
                insurer_id=insurer.id if insurer else None, beneficiary_id=match.id if match else None,
            )
            await self.writes.run(lambda repos: repos.append_events([miss]))
            return NOT_COVERED
        assert insurer is not None and match is not None
        valid_until = request.date_of_care + timedelta(days=insurer.engagement_validity_days)
        number = new_reference("E")
        engagement = Engagement(0, number, insurer.id, match.id, professional_id, request.category,
                                request.date_of_care, valid_until)
        event = self.recorder.event(principal, now, Tag.RIGHTS_CHECK, categories=(Category.COVERAGE,),
                                    purpose=PURPOSE, insurer_id=insurer.id, beneficiary_id=match.id, ref=number)

        def write(repos: Repositories) -> None:
            # Fail closed: the engagement exists only if its access event is recorded with it.
            repos.add_engagement(engagement, now)
            repos.append_events([event])

        await self.writes.run(write)
        return RightsAnswer(True, number, valid_until)
