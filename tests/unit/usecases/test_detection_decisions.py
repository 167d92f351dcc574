"""Detection's decisions over fakes, on the injected clock: a scraper is suspended within a
handful of patients, kill switches reach the gate within the cache delay, a lifted containment
lets the account back, old counters are forgotten (docs/THREATS.md T2-T4)."""

from __future__ import annotations

import pytest

from tests.unit.usecases.conftest import Stack, synthetic_nir
from tests.unit.usecases.test_budgets_over_time import invoice
from tests.unit.usecases.test_rights_rules import check, request
from tierspayant.audit.events import Tag
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.detection import CACHE_SECONDS, THROTTLE_MINUTES
from tierspayant.services.errors import Contained, Unauthenticated
from tierspayant.services.records import ContainmentScope

OFFICER = Principal(99, 0, Role.SECURITY_OFFICER, request_id="test")


def test_a_scraper_is_suspended_within_a_handful_of_patients(stack: Stack) -> None:
    today = stack.clock.now().date()
    answered = 0
    with pytest.raises(Unauthenticated):
        for patient in stack.patients:
            check(stack, request(patient, today))
            answered += 1
            stack.clock.advance(seconds=5)
    assert answered <= 6  # the 60-s window's default limit
    [containment] = stack.detection.containments(OFFICER, active_only=True)
    assert containment.scope is ContainmentScope.ACCOUNT and containment.action == "suspend"
    assert containment.created_by is None and "account_distinct" in containment.reasons
    live = stack.uow.state.sessions.values()
    assert all(session.revoked for session, _ in live)  # its sessions ended at once
    assert any(e.tag is Tag.CONTAINMENT for _, e in stack.uow.state.events)
    assert stack.detection.alerts(OFFICER)[0].severity == "high"


def test_normal_work_is_left_alone(stack: Stack) -> None:
    for n, patient in enumerate(stack.patients[:18]):  # within the day's quota of proof-less checks
        answer = check(stack, request(patient, stack.clock.now().date()))
        if answer.engagement_number and n % 3:  # two patients in three buy and are invoiced
            invoice(stack, stack.professional(), answer.engagement_number)
        stack.clock.advance(minutes=25)  # a patient every 25 minutes: a busy optician's day
    assert stack.detection.containments(OFFICER) == []


def test_an_organisation_kill_switch_reaches_the_gate_within_the_cache_delay(stack: Stack) -> None:
    optician = stack.professional()
    stack.detection.admit(optician)  # reads the active containments now
    other_worker = type(stack.detection)(stack.uow, stack.clock, stack.recorder)  # another process's cache
    other_worker.admit(optician)
    made = stack.detection.contain(OFFICER, "organisation", stack.organisation_id, "phishing reported")
    with pytest.raises(Unauthenticated):
        stack.detection.admit(optician)  # this worker: at once
    other_worker.admit(optician)  # the other: not yet...
    stack.clock.advance(seconds=CACHE_SECONDS)
    with pytest.raises(Unauthenticated):
        other_worker.admit(optician)  # ...but within CACHE_SECONDS of the injected clock
    stack.detection.lift(OFFICER, made.id)
    stack.clock.advance(seconds=CACHE_SECONDS)
    other_worker.admit(optician)
    with pytest.raises(NotFound):
        stack.detection.contain(OFFICER, "planet", 1, "nope")


def test_many_misses_throttle_the_account_for_a_while(stack: Stack) -> None:
    today = stack.clock.now().date()
    optician = stack.professional()
    unknown = [{**stack.patients[0], "nir": synthetic_nir(500 + n)} for n in range(6)]  # nobody holds these
    with pytest.raises(Contained) as raised:
        for n, patient in enumerate(unknown):
            stack.run(stack.rights.check(optician, request(patient, today)))
            stack.run(stack.rights.check(optician, request(stack.patients[n], today)))
            stack.clock.advance(seconds=40)
    assert raised.value.scope == "throttle" and raised.value.retry_after == THROTTLE_MINUTES * 60
    stack.clock.advance(minutes=1)
    with pytest.raises(Contained) as again:
        stack.detection.admit(optician)  # every request of the account waits, not only rights checks
    assert again.value.retry_after is not None and 0 < again.value.retry_after < THROTTLE_MINUTES * 60
    stack.clock.advance(minutes=THROTTLE_MINUTES)
    stack.detection.admit(optician)  # over on its own


def test_quotes_are_reads_one_patient_mapped_through_many_simulations_is_throttled(stack: Stack) -> None:
    from tests.unit.usecases.test_claims_orchestration import GLASSES
    from tierspayant.detection.thresholds import Thresholds
    from tierspayant.services.calculation import QuoteRequest

    limit = Thresholds().engagement_reads_hour
    optician = stack.professional()
    engagement = check(stack, request(stack.patients[0], stack.clock.now().date())).engagement_number
    assert engagement is not None
    quotes_before = len(stack.uow.state.quotes)
    for _ in range(limit):  # an optician comparing lens options: left alone
        stack.calculation.quote(optician, QuoteRequest(engagement, "simulation", GLASSES))
        stack.clock.advance(seconds=30)
    assert stack.detection.containments(OFFICER) == []
    with pytest.raises(Contained) as raised:  # one more in the hour: a map of the contract's guarantees
        stack.calculation.quote(optician, QuoteRequest(engagement, "simulation", GLASSES))
    assert raised.value.scope == "throttle"
    assert len(stack.uow.state.quotes) == quotes_before + limit  # the refused one computed nothing
    [throttle] = stack.detection.containments(OFFICER, active_only=True)
    assert throttle.action == "throttle" and "engagement_reads" in throttle.reasons  # committed with the refusal
    with pytest.raises(Contained):
        stack.detection.admit(optician)  # every request of the account waits
    stack.clock.advance(minutes=THROTTLE_MINUTES, hours=1)
    stack.detection.admit(optician)
    stack.calculation.quote(optician, QuoteRequest(engagement, "simulation", GLASSES))  # a new hour


def test_counters_older_than_a_day_are_forgotten(stack: Stack) -> None:
    check(stack, request(stack.patients[0], stack.clock.now().date()))
    assert stack.detection.forget_old() == 0
    stack.clock.advance(hours=25)
    assert stack.detection.forget_old() == 2  # the account's counters and its organisation's memory


def test_the_beat_learns_each_account_once_a_day_and_watches_each_insurer_hour(stack: Stack) -> None:
    from tierspayant.detection.thresholds import Thresholds
    from tierspayant.services.watch import INSURER_PROOFLESS

    for patient in stack.patients[:5]:  # a quiet morning
        check(stack, request(patient, stack.clock.now().date()))
        stack.clock.advance(minutes=20)
    stack.clock.advance(days=1)
    stack.detection.watch()
    optician = stack.professional()
    with stack.uow() as tx:
        learned = tx.detection.baseline(optician.account_id)
    assert learned is not None and learned.days == 1 and learned.day_mean == 5
    stack.detection.watch()  # the same day again: nothing more
    with stack.uow() as tx:
        assert tx.detection.baseline(optician.account_id) == learned
    # An insurer-wide surge of proof-less new patients: one alert an hour, nothing contained.
    floor = Thresholds().insurer_proofless_floor
    with stack.uow() as tx:
        for _ in range(floor + 1):
            tx.detection.bump(INSURER_PROOFLESS, 1, stack.clock.now())
    [alert] = stack.detection.watch()
    assert "insurer 1" in alert and "nothing contained" in alert
    assert stack.detection.watch() == []  # the same hour: alerted once
    assert stack.detection.containments(OFFICER, active_only=True) == []
    stack.clock.advance(hours=1)
    assert stack.detection.watch() == []  # the next hour is quiet
