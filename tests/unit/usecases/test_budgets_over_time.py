"""Proof-less budgets through the rights check, over several days on the injected clock, and an
organisation that trips: a slow scraper is capped whatever its pace, a professional who follows
its checks is not, the driving account is suspended and its clean colleague stepped up -- even
when the colleague's check is the one that crosses the line (docs/THREATS.md T2, "Budgets over
time", "Containment that hits the attacker")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.usecases.conftest import Stack
from tests.unit.usecases.test_claims_orchestration import GLASSES
from tests.unit.usecases.test_rights_rules import request
from tierspayant.detection.thresholds import Thresholds
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.security.policy import Principal, Role
from tierspayant.services.calculation import QuoteRequest
from tierspayant.services.claims import InvoiceLine, InvoiceRequest
from tierspayant.services.errors import Unauthenticated
from tierspayant.services.records import ContainmentScope
from tierspayant.services.rights import PresenceRequired, RightsAnswer

OFFICER = Principal(99, 0, Role.SECURITY_OFFICER, request_id="test")


def proofless(stack: Stack, patient: dict[str, Any], principal: Principal, **changes: Any) -> RightsAnswer | str:
    """The answer, or the refusal's kind."""
    try:
        return stack.run(stack.rights.check(principal, request(patient, stack.clock.now().date(), **changes)))
    except PresenceRequired:
        return "proof required"
    except Unauthenticated:
        return "session ended"


def next_day(stack: Stack) -> None:
    stack.clock.advance(hours=24)


def invoice(stack: Stack, principal: Principal, engagement: str) -> None:
    """The care billed: the one follow-up that counts (detection/budgets.py)."""
    stack.invoices += 1
    result = stack.claims.submit(principal, InvoiceRequest(
        f"F-{stack.invoices}", stack.clock.now().date(), (InvoiceLine(GLASSES[0], Decimal("0.01")),),
        engagement_number=engagement))
    assert result.invoice.status is not InvoiceStatus.REJECTED


@pytest.mark.parametrize("pace", [1, 3, 6, 15])
def test_a_slow_scraper_reads_at_most_ten_people_over_many_days_whatever_its_pace(stack: Stack, pace: int) -> None:
    patients = iter(stack.patients)  # a new patient every time
    answered, refused = 0, 0
    principal = stack.professional()
    days = min(12, len(stack.patients) // pace)
    for _ in range(days):  # working days, every check spaced out under every per-minute limit
        for _ in range(pace):
            answer = proofless(stack, next(patients), principal)
            if answer == "session ended":  # detection ended it (three refusals in an hour)
                principal = stack.professional()  # the attacker phishes a new session
            elif isinstance(answer, RightsAnswer):
                answered += 1
            else:
                refused += 1
            stack.clock.advance(minutes=40)
        next_day(stack)
    assert answered == 10  # 10 people answered, covered or not, then never again
    assert refused >= 1
    assert all(c.scope is not ContainmentScope.ORGANISATION for c in stack.detection.containments(OFFICER))


def test_a_pec_for_every_patient_is_no_follow_up(stack: Stack) -> None:
    """A scraper that requests a PEC for every covered patient (the optician's step before the
    delivery) escapes the never-followed cap, not the week's budget of unfollowed patients."""
    principal = stack.professional()
    answered = 0
    for patient in stack.patients[:30]:
        answer = proofless(stack, patient, principal)
        if isinstance(answer, RightsAnswer):
            answered += 1
            if answer.engagement_number:
                stack.calculation.quote(principal, QuoteRequest(answer.engagement_number, "pec", GLASSES))
        stack.clock.advance(minutes=20)
    assert answered == Thresholds().account_proofless_week  # 18 in any 7 days, then proofs


@pytest.mark.parametrize("spend", ["day", "never followed"])
def test_a_refusal_is_the_same_for_a_patient_who_exists_and_one_who_does_not(stack: Stack, spend: str) -> None:
    if spend == "day":
        stack.set_quota(3)
    principal = stack.professional()
    for patient in stack.patients[:10]:
        proofless(stack, patient, principal)
        stack.clock.advance(minutes=40)
    existing = proofless(stack, stack.patients[20], principal)
    stack.clock.advance(minutes=40)
    nobody = proofless(stack, stack.patients[21], principal, nir="295109912611193")
    assert existing == nobody == "proof required"


def test_a_professional_who_bills_what_it_checks_keeps_checking_day_after_day(stack: Stack) -> None:
    principal = stack.professional()
    answered = 0
    for day in range(4):
        for patient in stack.patients[day * 15:(day + 1) * 15]:
            answer = proofless(stack, patient, principal)
            assert isinstance(answer, RightsAnswer)
            answered += 1
            if answer.engagement_number:
                invoice(stack, principal, answer.engagement_number)
            stack.clock.advance(minutes=30)
        next_day(stack)
    assert answered == 60  # six times the never-followed cap, none refused
    assert stack.detection.containments(OFFICER) == []


def test_the_organisation_trips_and_only_the_account_that_drove_it_is_suspended(stack: Stack) -> None:
    """The colleague's proof-less check is the one that spends the organisation's day budget:
    the colleague is stepped up (proof needed, session ended), the driving account suspended."""
    stack.set_detection({"organisation_proofless": [9, 100, 250]})
    attacker, colleague = stack.professional("optician"), stack.professional("colleague")
    for patient in stack.patients[:8]:  # 8 unfollowed in its 30 days, none billed: a driver
        assert isinstance(proofless(stack, patient, attacker), RightsAnswer)
        stack.clock.advance(minutes=11)
    answer = proofless(stack, stack.patients[30], colleague)  # the 9th of the organisation: admitted
    assert isinstance(answer, RightsAnswer) and answer.engagement_number
    invoice(stack, colleague, answer.engagement_number)
    stack.clock.advance(minutes=11)
    assert proofless(stack, stack.patients[31], colleague) == "proof required"  # the 10th: crosses the line
    containments = stack.detection.containments(OFFICER, active_only=True)
    by_target = {(c.scope, c.target_id): c for c in containments}
    attacker_id, colleague_id = attacker.account_id, colleague.account_id
    assert (ContainmentScope.ACCOUNT, attacker_id) in by_target  # the driver
    assert (ContainmentScope.ACCOUNT, colleague_id) not in by_target  # not the account that crossed
    step_up = by_target[(ContainmentScope.ORGANISATION, stack.organisation_id)]
    assert step_up.action == "step_up" and step_up.until is not None
    assert f"contained accounts [{attacker_id}]" in step_up.reasons and "stepped up 1 account" in step_up.reasons
    # the colleague works on with proofs after a fresh sign-in; without a proof it is refused
    fresh = stack.professional("colleague")
    patient = stack.patients[40]
    proof = stack.presence.issue(patient["amc_number"], patient["member_number"], patient["nir"], patient["birth_date"])
    assert stack.run(stack.rights.check(fresh, request(patient, stack.clock.now().date(), proof))).covered
    assert proofless(stack, stack.patients[30], fresh) == "proof required"  # even a patient it already checked
    # lifted by an officer: proof-less checks again
    stack.detection.lift(OFFICER, step_up.id)
    assert isinstance(proofless(stack, stack.patients[30], fresh), RightsAnswer)
