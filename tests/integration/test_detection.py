"""Detection and containment with the documented default thresholds (docs/THREATS.md T2-T4): a
scraper is stopped within a handful of patients, a birth-date guesser within three guesses,
others keep working, every action is logged and alerted, and officers' kill switches reach
every worker (two platforms on one database)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tierspayant.bootstrap import build
from tierspayant.services.detection import CACHE_SECONDS
from tierspayant.services.errors import Unauthenticated
from tierspayant.store import tables as t


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=400,
                    proofless_quota=20, detection=None)


def check(world: World, headers: dict[str, str], patient: dict[str, str]) -> int:
    return world.client.post("/v1/rights-checks", headers=headers, json={
        **patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical"}).status_code


def test_a_scraper_is_contained_within_a_handful_of_patients(fresh: World) -> None:
    scraper = fresh.headers("optique.demo")
    bystander = fresh.headers("medecin.demo")
    patients = fresh_patients(fresh, count=30)
    answered = 0
    for patient in patients[:25]:
        fresh.clock.advance(seconds=1)
        if check(fresh, scraper, patient) != 200:
            break
        answered += 1
    assert 1 <= answered <= 6  # the 1-minute limit (6 distinct patients) stops the 7th
    assert check(fresh, scraper, patients[0]) == 401  # the stolen session is dead
    assert check(fresh, bystander, patients[26]) == 200  # nobody else notices
    officer = fresh.headers("securite.demo")
    active = fresh.client.get("/v1/security/containments?active=true", headers=officer).json()
    account = fresh.demo_account_id("optique.demo")
    [suspension] = [c for c in active if c["scope"] == "account" and c["target_id"] == account]
    assert suspension["automatic"] is True and "account_distinct_60s" in suspension["reasons"]
    alerts = fresh.client.get("/v1/security/alerts", headers=officer).json()
    assert any(a["containment_id"] == suspension["id"] and a["severity"] == "high" for a in alerts)
    assert all(p["nir"] not in str(alerts) for p in patients)  # alerts hold no personal data
    with fresh.platform.engine.connect() as conn:
        tags = conn.execute(select(t.audit_events.c.tag)).scalars().all()
    assert "detection:containment:create" in tags
    refused = fresh.passkey_sign_in("optique.demo")  # no new session either, by any means
    assert refused.status_code == 403 and refused.json()["title"] == "Account suspended"
    lifted = fresh.client.post(f"/v1/security/containments/{suspension['id']}/lift", headers=officer)
    assert lifted.status_code == 204
    assert fresh.client.post(f"/v1/security/containments/{suspension['id']}/lift", headers=officer).status_code == 404
    fresh.clock.advance(minutes=61)
    assert check(fresh, fresh.headers("optique.demo"), patients[28]) == 200


def test_guessing_a_birth_date_is_contained_before_it_succeeds(fresh: World) -> None:
    guesser = fresh.headers("optique.demo")
    target = fresh_patients(fresh)[0]
    real_day = int(target["birth_date"][-2:])
    wrong_days = [d for d in range(1, 29) if d != real_day]
    statuses = []
    for day in wrong_days[:5]:
        fresh.clock.advance(seconds=20)
        statuses.append(check(fresh, guesser, {**target, "birth_date": f"{target['birth_date'][:8]}{day:02d}"}))
    assert statuses[:2] == [200, 200] and 401 in statuses[2:3]  # third failure: contained
    assert check(fresh, guesser, target) == 401  # the right guess now reaches nothing


def test_kill_switches_reach_every_worker(fresh: World) -> None:
    other_worker = build(fresh.platform.settings, clock=fresh.clock)  # a second process on the same database
    officer = fresh.headers("securite.demo")
    optician = fresh.headers("optique.demo")
    patients = fresh_patients(fresh, count=4)
    token = optician["authorization"].split()[1]
    assert other_worker.accounts.authenticate(token).account_id == fresh.demo_account_id("optique.demo")
    organisation = other_worker.accounts.authenticate(token).organisation_id
    made = fresh.client.post("/v1/security/containments", headers=officer, json={
        "scope": "organisation", "target_id": organisation, "reason": "phishing reported by the optician"})
    assert made.status_code == 201, made.text
    assert check(fresh, optician, patients[0]) == 401  # this worker: at once
    fresh.clock.advance(seconds=CACHE_SECONDS + 0.1)  # detection reads the injected clock
    with pytest.raises(Unauthenticated):
        other_worker.accounts.authenticate(token)  # the other worker: within CACHE_SECONDS
    fresh.client.post(f"/v1/security/containments/{made.json()['id']}/lift", headers=officer)
    fresh.clock.advance(seconds=CACHE_SECONDS + 0.1)  # detection reads the injected clock
    assert other_worker.accounts.authenticate(token).account_id
    # One insurer's route closed: its checks answer 503, the other insurer's still work.
    route = fresh.client.post("/v1/security/containments", headers=officer, json={
        "scope": "insurer", "target_id": 1, "reason": "insurer asked to stop"})
    assert route.status_code == 201
    assert check(fresh, optician, patients[1]) == 503
    assert check(fresh, optician, fresh_patients(fresh, insurer_id=2)[0]) == 200
    bad = fresh.client.post("/v1/security/containments", headers=officer, json={
        "scope": "planet", "target_id": 1, "reason": "x y z"})
    assert bad.status_code == 422 and "scope" in bad.text
    assert fresh.client.get("/v1/security/containments", headers=optician).status_code == 403
    other_worker.engine.dispose()


def test_counters_older_than_a_day_are_forgotten(fresh: World) -> None:
    optician = fresh.headers("optique.demo")
    patient = fresh_patients(fresh)[0]
    assert check(fresh, optician, patient) == 200
    with fresh.platform.engine.connect() as conn:
        assert conn.execute(select(t.detection_seen.c.subject)).all() != []
    assert fresh.platform.detection.forget_old() == 0  # seen just now: kept
    fresh.clock.advance(hours=27)
    assert fresh.platform.detection.forget_old() >= 2  # the account's counters, its organisation's memory, slots
    with fresh.platform.engine.connect() as conn:
        for table in (t.detection_seen, t.detection_org_seen):
            assert conn.execute(select(table)).all() == [], table.name
        # Only the insurer's hourly proof-less count is left: its baseline reads a week.
        assert conn.execute(select(t.detection_slots.c.scope)).scalars().all() == ["insurer_proofless"]
    fresh.clock.advance(days=8)
    fresh.platform.detection.forget_old()
    with fresh.platform.engine.connect() as conn:
        assert conn.execute(select(t.detection_slots)).all() == []


def test_the_beat_learns_baselines_and_alerts_on_an_insurer_surge(fresh: World) -> None:
    """The housekeeping beat on the real store, both databases: yesterday's checks folded into
    the account's baseline once, an insurer's proof-less surge alerted once an hour, nothing
    contained; the planner's statistics refreshed on PostgreSQL."""
    from sqlalchemy import text

    from tierspayant.detection.thresholds import Thresholds
    from tierspayant.services.watch import INSURER_PROOFLESS

    optician = fresh.headers("optique.demo")
    for patient in fresh_patients(fresh, count=4):
        fresh.clock.advance(minutes=5)  # within the session's idle timeout
        assert check(fresh, optician, patient) == 200
    fresh.clock.advance(days=1)
    assert fresh.platform.detection.watch() == []
    with fresh.platform.engine.connect() as conn:
        learned = conn.execute(select(t.detection_baselines)).all()
    assert [(row.days, row.day_mean) for row in learned] == [(1, 4.0)]
    fresh.platform.detection.watch()  # the same day again: nothing more learned
    with fresh.platform.engine.connect() as conn:
        assert conn.execute(select(t.detection_baselines)).all() == learned
    with fresh.platform.uow() as tx:
        for _ in range(Thresholds().insurer_proofless_floor + 1):
            tx.detection.bump(INSURER_PROOFLESS, 1, fresh.clock.now())
    [alert] = fresh.platform.detection.watch()
    assert "insurer 1" in alert and fresh.platform.detection.watch() == []  # once an hour
    with fresh.platform.engine.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.severity, t.alerts.c.containment_id)).all()
        assert conn.execute(select(t.containments)).all() == []
    assert ("high", None) in alerts
    fresh.platform.refresh_statistics()
    if fresh.platform.engine.dialect.name == "postgresql":
        with fresh.platform.engine.connect() as conn:
            analysed = conn.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
                                    ).scalars().all()
        assert {"detection_seen", "detection_slots", "proofless_days"} <= set(analysed)


def test_quotes_are_reads_many_simulations_of_one_patient_throttle_the_account(fresh: World) -> None:
    from tests.integration.test_care_flow import GLASSES
    from tierspayant.detection.thresholds import Thresholds

    optician = fresh.headers("optique.demo")
    [patient] = fresh_patients(fresh, count=1)
    answer = fresh.client.post("/v1/rights-checks", headers=optician, json={
        **patient, "date_of_care": fresh.clock.now().date().isoformat(), "category": "optical"}).json()
    quote = {"engagement_number": answer["engagement_number"], "kind": "simulation", "lines": GLASSES}
    limit = Thresholds().engagement_reads_hour
    for _ in range(limit):  # comparing lens options
        fresh.clock.advance(seconds=20)
        assert fresh.client.post("/v1/quotes", headers=optician, json=quote).status_code == 201
    refused = fresh.client.post("/v1/quotes", headers=optician, json=quote)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "amc" not in refused.text  # nothing computed for it
    with fresh.platform.engine.connect() as conn:
        stored = conn.execute(select(t.quotes.c.id).where(t.quotes.c.engagement_id.is_not(None))).all()
    assert len(stored) == limit  # the refused one was never written
    officer = fresh.headers("securite.demo")
    active = fresh.client.get("/v1/security/containments?active=true", headers=officer).json()
    [throttle] = [c for c in active if c["target_id"] == fresh.demo_account_id("optique.demo")]
    assert throttle["action"] == "throttle" and "engagement_reads" in throttle["reasons"]
    assert fresh.client.get("/v1/payment-statements", headers=optician).status_code == 429  # every route waits
