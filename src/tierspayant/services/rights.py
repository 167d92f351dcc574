"""Rights check (Inter-AMC IDB): is this patient covered for this care on this date?

The answer is minimal (docs/PRODUCT.md promise 2): covered or not, an engagement number that
guarantees payment, its validity -- never a name, the contract, the NIR or family members.
Unknown insurer, unknown beneficiary, wrong birth date, wrong member number and not covered all
give the *same* answer (docs/THREATS.md T3), after the same work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from tierspayant.audit.events import Category, Outcome, Tag
from tierspayant.detection.budgets import Budget
from tierspayant.detection.signals import Action
from tierspayant.domain.identifiers import parse_amc_number, parse_member_number, parse_nir
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal
from tierspayant.security.presence import InvalidPresenceProof, PresenceVerifier
from tierspayant.security.tokens import new_reference
from tierspayant.services.audit import Recorder
from tierspayant.services.budgets import (
    BAD_PROOF,
    KNOWN,
    STEPPED_UP,
    WITH_PROOF,
    Admission,
    admit_proofless,
    proofless_room,
)
from tierspayant.services.common import check_date_of_care, require_professional
from tierspayant.services.detection import PARIS, DetectionService, DetectionStore
from tierspayant.services.errors import Contained, ServiceError
from tierspayant.services.ports import (
    Clock,
    HasBeneficiaries,
    HasClaims,
    UnitOfWork,
    WriteQueue,
)
from tierspayant.services.records import Beneficiary, Engagement, Insurer, Presentation, RightsPeriod


class RightsStore(DetectionStore, HasBeneficiaries, HasClaims, Protocol):
    """The ports this use case works with (services/ports/), detection's included."""


@dataclass(frozen=True, slots=True)
class RightsRequest:
    amc_number: str
    member_number: str
    nir: str
    birth_date: date
    date_of_care: date
    category: CareCategory
    #: The patient's presence proof (QR/datamatrix string), if shown.
    presence_proof: str | None = None


class PresenceRequired(ServiceError):
    """Refused: a proof-less budget of the account or its organisation is spent (a day, 7 or
    30 days), or the proof shown is not valid for this patient now. The professional must scan
    the patient's proof."""


@dataclass(frozen=True, slots=True)
class RightsAnswer:
    covered: bool
    engagement_number: str | None
    valid_until: date | None


class RightsOutcome(StrEnum):
    """How a check ended, for operations' counts (``RightsService.observe``); the caller is
    only ever told covered or not (docs/THREATS.md T3), so these counts are for operators."""

    COVERED = "covered"
    NOT_COVERED = "not_covered"  # the beneficiary matched, no rights for this care on this date
    NOT_FOUND = "not_found"  # nobody matched (unknown insurer, NIR, member number or birth date)
    PRESENCE_REQUIRED = "presence_required"  # a proof-less budget spent, or the proof refused
    CONTAINED = "contained"  # detection or an officer's kill switch refused it


def _unobserved(_: RightsOutcome) -> None:
    pass


NOT_COVERED = RightsAnswer(False, None, None)
PURPOSE = "tiers payant: rights check for care"
PRESENCE_PURPOSE = "tiers payant: rights check refused (presence proof required)"
CONTAINED_PURPOSE = "tiers payant: rights check refused (contained by detection)"
DEFAULT_QUOTA = 20


def matching(candidates: list[tuple[Beneficiary, list[RightsPeriod]]], member: str,
             birth_date: date) -> tuple[Beneficiary | None, list[RightsPeriod]]:
    """The candidate whose member number and birth date both match what the patient presents."""
    for candidate, periods in candidates:
        if candidate.member_number == member and candidate.birth_date == birth_date:
            return candidate, periods
    return None, []


class RightsService:
    def __init__(self, uow: UnitOfWork[RightsStore], clock: Clock, writes: WriteQueue[RightsStore], recorder: Recorder,
                 presence: PresenceVerifier, detection: DetectionService) -> None:
        self.uow = uow
        self.clock = clock
        self.writes = writes
        self.recorder = recorder
        self.presence = presence
        self.detection = detection
        #: (account, day, subject) already admitted without a proof: admissions are never
        #: withdrawn within a day, so a hit here needs no query inside the write lock.
        self._admitted: set[tuple[int, date, str]] = set()
        #: Told how each check ended: an entry point counts them (api/metrics.py), so this
        #: module imports no metrics library (the layers, docs/ARCHITECTURE.md).
        self.observe: Callable[[RightsOutcome], None] = _unobserved

    async def check(self, principal: Principal, request: RightsRequest) -> RightsAnswer:
        """Reads run inline (a few indexed lookups); the engagement is written by group commit
        and is durable before the answer leaves."""
        professional_id = require_professional(principal)
        amc = parse_amc_number(request.amc_number)
        member = parse_member_number(request.member_number)
        nir = parse_nir(request.nir)
        now = self.clock.now()
        check_date_of_care(request.date_of_care, now.date())
        subject = self.recorder.pseudonyms.presented_identity(amc, nir)
        neighbourhood = self.recorder.pseudonyms.neighbourhood(amc, nir)
        with self.uow(readonly=True) as tx:
            insurer = tx.reference.insurer_by_amc(amc)
            # An unknown insurer still costs the lookup (an impossible id): the same time as a known one.
            candidates = tx.beneficiaries.beneficiaries_with_rights(insurer.id if insurer is not None else -1, nir)
            activity = self.detection.snapshot(tx, principal, now, subject, neighbourhood)
        if insurer is not None:
            try:
                self.detection.check_insurer_route(insurer.id)  # a security officer's kill switch
            except Contained:
                self.observe(RightsOutcome.CONTAINED)
                raise
        match, periods = matching(candidates, member, request.birth_date)
        found = insurer is not None and match is not None and any(
            p.covers(request.date_of_care, request.category) for p in periods)
        number = new_reference("E") if found else None
        # One event per check, hit or miss: an attempt that matched nobody discloses nothing but
        # counts for detection; the answer is the same whatever failed (docs/THREATS.md T3).
        event = self.recorder.event(
            principal, now, Tag.RIGHTS_CHECK, categories=(Category.COVERAGE,), purpose=PURPOSE,
            outcome=Outcome.OK if found else Outcome.NOT_FOUND if match is None else Outcome.REFUSED,
            insurer_id=insurer.id if insurer else None, beneficiary_id=match.id if match else None, ref=number)
        day = now.astimezone(PARIS).date()
        admit = self._admission(principal, professional_id, request, amc, subject, event.beneficiary, now, day)
        budgets = self._budgets(insurer)
        engagement = valid_until = None
        if found:
            assert insurer is not None and match is not None
            valid_until = request.date_of_care + timedelta(days=insurer.engagement_validity_days)
            engagement = Engagement(0, str(number), insurer.id, match.id, professional_id, request.category,
                                    request.date_of_care, valid_until)

        def write(tx: RightsStore) -> Action | None:
            admission = admit(tx, budgets)
            admitted = admission.admitted
            # Counted for detection, hit or miss or refusal, and assessed before answering.
            # A refusal for lack of a proof (a budget spent) is a scraper's signature; a proof
            # that fails (expired on a slow network, mistyped) is not counted as one.
            outcome = (Presentation.OK if admitted and match is not None else Presentation.NOT_FOUND if admitted
                       else Presentation.REFUSED if request.presence_proof is None else Presentation.BAD_PROOF)
            action = self.detection.observe(tx, principal, insurer, subject, neighbourhood, outcome, now,
                                            activity, admission)
            if action is not Action.NONE:
                tx.log.append_events([replace(event, purpose=CONTAINED_PURPOSE, outcome=Outcome.REFUSED, ref=None)])
                return action
            if not admitted:
                tx.log.append_events([replace(event, purpose=PRESENCE_PURPOSE, outcome=Outcome.REFUSED, ref=None)])
                return None
            # Fail closed: the engagement exists only if its access event is recorded with it.
            if engagement is not None:
                engagement_id = tx.claims.add_engagement(engagement, now)
                if admission.counted_account:  # awaits its quote or invoice (detection/budgets.py)
                    self.detection.count_proofless(tx, engagement.insurer_id, now)  # the insurer-wide watch
                    tx.presence.add_proofless_engagement(
                        engagement_id, principal.account_id,
                        principal.organisation_id if admission.counted_organisation else None, day)
            tx.log.append_events([event])
            return Action.NONE

        action = await self.writes.run(write)
        if action is None:
            self.observe(RightsOutcome.PRESENCE_REQUIRED)
            raise PresenceRequired()
        if action is not Action.NONE:
            self.observe(RightsOutcome.CONTAINED)
        self.detection.refuse(action)  # a throttle, or the session (or more) just ended
        self.observe(RightsOutcome.COVERED if found else RightsOutcome.NOT_FOUND if match is None
                     else RightsOutcome.NOT_COVERED)
        return RightsAnswer(True, number, valid_until) if found else NOT_COVERED

    def proofless_left(self, principal: Principal) -> int:
        """New patients this account may still check today without a proof, under the default
        day quota (an insurer may set a lower one) and its organisation's budgets; none while
        its organisation must show proofs."""
        require_professional(principal)
        if principal.organisation_id is not None and self.detection.stepped_up(principal.organisation_id):
            return 0
        day = self.clock.now().astimezone(PARIS).date()
        with self.uow(readonly=True) as tx:
            return proofless_room(tx, principal.account_id, principal.organisation_id, day, *self._budgets(None))

    def _budgets(self, insurer: Insurer | None) -> tuple[Budget, Budget]:
        """(account, organisation) budgets: the insurer's day quota and thresholds (docs/THREATS.md T2)."""
        t = self.detection.thresholds(insurer)
        quota = insurer.proofless_daily_quota if insurer else DEFAULT_QUOTA
        share = (t.unfollowed_min, t.unfollowed_followed_share)
        return (Budget(quota, t.account_proofless_week, t.account_proofless_month, *share),
                Budget(*t.organisation_proofless, *share))

    def _admission(self, principal: Principal, professional_id: int, request: RightsRequest, amc: str,
                   subject: str, pseudonym: str | None, now: datetime, day: date,
                   ) -> Callable[[RightsStore, tuple[Budget, Budget]], Admission]:
        """How this check is admitted, decided inside the write (so that concurrent checks
        count right): with a proof, the proof must be this patient's, live, and unused -- it is
        then consumed and bound to this professional; without, the account's and its
        organisation's budgets apply (detection/budgets.py, docs/THREATS.md T2)."""
        if request.presence_proof is None:
            if principal.organisation_id is not None and self.detection.stepped_up(principal.organisation_id):
                return lambda tx, budgets: STEPPED_UP  # every check of the organisation needs a proof
            key = (principal.account_id, day, subject)
            if key in self._admitted:
                return lambda tx, budgets: KNOWN

            def admit(tx: RightsStore, budgets: tuple[Budget, Budget]) -> Admission:
                admission = admit_proofless(tx, principal.account_id, principal.organisation_id, subject, day,
                                            *budgets)
                if admission.admitted:
                    if len(self._admitted) > 100_000:
                        self._admitted.clear()
                    self._admitted.add(key)
                return admission

            return admit
        try:
            claims = self.presence.verify(request.presence_proof, now)
        except InvalidPresenceProof:
            return lambda tx, budgets: BAD_PROOF
        if claims.insurer != amc or pseudonym is None or claims.beneficiary != pseudonym:
            return lambda tx, budgets: BAD_PROOF
        return lambda tx, budgets: (WITH_PROOF if tx.presence.use_presence_nonce(claims.nonce, professional_id, now)
                                    else BAD_PROOF)
