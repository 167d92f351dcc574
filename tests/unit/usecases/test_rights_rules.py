"""The rights check's rules over fakes: the minimal answer, no oracle, the daily quota of
proof-less checks, presence proofs single use, fail closed (docs/THREATS.md T2, T3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from tests.unit.usecases.conftest import Stack
from tierspayant.audit.events import Outcome, Tag
from tierspayant.domain.reference import CareCategory
from tierspayant.services.ports import LogUnavailable
from tierspayant.services.rights import NOT_COVERED, PresenceRequired, RightsAnswer, RightsRequest


def request(patient: dict[str, Any], at: date, proof: str | None = None, **changes: Any) -> RightsRequest:
    fields = {"amc_number": patient["amc_number"], "member_number": patient["member_number"], "nir": patient["nir"],
              "birth_date": patient["birth_date"], **changes}
    return RightsRequest(fields["amc_number"], fields["member_number"], fields["nir"], fields["birth_date"], at,
                         CareCategory.OPTICAL, proof)


def check(stack: Stack, req: RightsRequest, account: str = "optician") -> RightsAnswer:
    return stack.run(stack.rights.check(stack.professional(account), req))


def events(stack: Stack) -> list[Any]:
    return [event for _, event in stack.uow.state.events]


def test_a_covered_patient_gets_an_engagement_and_one_event(stack: Stack) -> None:
    patient = stack.patients[0]
    answer = check(stack, request(patient, stack.clock.now().date()))
    assert answer.covered and answer.engagement_number and answer.valid_until == stack.clock.now().date() + timedelta(30)
    [engagement] = stack.uow.state.engagements.values()
    assert engagement.number == answer.engagement_number and engagement.beneficiary_id == patient["id"]
    [event] = events(stack)
    assert event.tag is Tag.RIGHTS_CHECK and event.outcome is Outcome.OK and event.ref == answer.engagement_number
    assert event.beneficiary == stack.recorder.pseudonym(stack.insurer_id, patient["id"])


def test_every_negative_answer_is_the_same(stack: Stack) -> None:
    today = stack.clock.now().date()
    covered, ended = stack.patients[1], stack.patients[9]
    answers = [
        check(stack, request(covered, today, nir="295109912611193")),  # nobody holds this NIR
        check(stack, request(covered, today, birth_date=date(1990, 1, 1))),  # wrong birth date
        check(stack, request(covered, today, member_number="X1")),  # wrong member number
        check(stack, request(covered, today, amc_number="990000029")),  # unknown insurer
        check(stack, request(ended, today)),  # rights ended
    ]
    assert answers == [NOT_COVERED] * 5
    assert stack.uow.state.engagements == {}
    assert len(events(stack)) == 5  # each attempt is recorded, none names a beneficiary it did not match
    assert [e.beneficiary is not None for e in events(stack)] == [False, False, False, False, True]


def test_the_daily_quota_binds_known_and_unknown_patients_alike(stack: Stack) -> None:
    stack.set_quota(3)
    today = stack.clock.now().date()
    for patient in stack.patients[:3]:
        assert check(stack, request(patient, today)).covered
    assert check(stack, request(stack.patients[0], today)).covered  # the same patient again: not counted twice
    with pytest.raises(PresenceRequired):
        check(stack, request(stack.patients[3], today))
    with pytest.raises(PresenceRequired):
        check(stack, request(stack.patients[3], today, nir="295109912611193"))  # a miss is refused the same
    assert check(stack, request(stack.patients[3], today), account="colleague").covered  # each account its own
    refused = [e for e in events(stack) if e.outcome is Outcome.REFUSED]
    assert len(refused) == 2 and all(e.ref is None for e in refused)
    stack.clock.advance(days=1)
    assert check(stack, request(stack.patients[3], stack.clock.now().date())).covered  # a new day


def test_a_presence_proof_admits_once_for_its_patient_only(stack: Stack) -> None:
    stack.set_quota(0)
    today = stack.clock.now().date()
    patient, other = stack.patients[4], stack.patients[5]
    proof = stack.presence.issue(patient["amc_number"], patient["member_number"], patient["nir"], patient["birth_date"])
    with pytest.raises(PresenceRequired):
        check(stack, request(other, today, proof))  # another patient's check with this proof
    assert check(stack, request(patient, today, proof)).covered
    with pytest.raises(PresenceRequired):
        check(stack, request(patient, today, proof))  # replayed
    late = stack.presence.issue(patient["amc_number"], patient["member_number"], patient["nir"], patient["birth_date"])
    stack.clock.advance(minutes=21)
    with pytest.raises(PresenceRequired):
        check(stack, request(patient, stack.clock.now().date(), late))  # expired (20 min at most)


def test_no_event_no_engagement(stack: Stack) -> None:
    stack.uow.fail_log = True
    with pytest.raises(LogUnavailable):
        check(stack, request(stack.patients[6], stack.clock.now().date()))
    assert stack.uow.state.engagements == {} and events(stack) == []


def test_the_insurers_quota_is_its_own(stack: Stack) -> None:
    stack.set_quota(1)
    today = stack.clock.now().date()
    assert check(stack, request(stack.patients[7], today)).covered
    with pytest.raises(PresenceRequired):
        check(stack, request(stack.patients[8], today))
    care = stack.uow.state
    care.insurers[stack.insurer_id] = replace(care.insurers[stack.insurer_id], proofless_daily_quota=2)
    assert check(stack, request(stack.patients[8], today)).covered
