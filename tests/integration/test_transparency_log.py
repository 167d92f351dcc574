"""The transparency log end to end: events recorded with every access (fail closed), signed
checkpoints, proofs, the verifier, queries, the witness, and the tamper drill."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement
from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.events import AccessEvent, Tag
from tierspayant.audit.merkle import verify_consistency, verify_inclusion
from tierspayant.audit.witness import Alarm, WitnessState, witness_step
from tierspayant.security._hazmat.primitives import ed25519_generate
from tierspayant.security.notes import NoteSigner, split_note
from tierspayant.security.policy import Principal, Role
from tierspayant.services.errors import Forbidden
from tierspayant.store import tables as t

OFFICER = Principal(0, 0, Role.SECURITY_OFFICER)


@pytest.fixture()
def small(new_world: Callable[..., World]) -> World:
    """A fresh platform per test: these tests damage their log on purpose."""
    return new_world(beneficiaries=60)


def activity(world: World, patients: int = 3) -> None:
    optician = world.headers("optique.demo")
    for patient in fresh_patients(world, count=patients):
        eng = engagement(world, optician, patient)
        world.client.post("/v1/quotes", headers=optician, json={"engagement_number": eng, "kind": "simulation",
                                                                "lines": GLASSES})


def test_accesses_are_recorded_and_provable(small: World) -> None:
    audit = small.platform.audit
    before = audit.size()
    activity(small)
    optician = small.headers("optique.demo")
    miss = small.client.post("/v1/rights-checks", headers=optician, json={
        **fresh_patients(small)[0], "birth_date": "1901-01-01", "date_of_care": "2026-03-02", "category": "optical"})
    assert miss.json()["covered"] is False
    assert audit.size() == before + 3 * 2 + 1  # a rights check and a quote each, and the miss
    first = audit.checkpoint()
    assert Checkpoint.parse(split_note(first.note)[0]).size == first.size == audit.size()
    activity(small, patients=2)
    second = audit.checkpoint()
    for index in (0, first.size - 1, second.size - 1):
        proof = audit.inclusion(index, second.size)
        assert verify_inclusion(proof.leaf_hash, index, second.size, proof.hashes, second.root)
    assert verify_consistency(first.size, second.size, first.root, second.root,
                              audit.consistency(first.size, second.size))
    assert audit.verify().ok
    # HTTP: the checkpoint and the proofs are public and hold hashes only
    note = small.client.get("/v1/log/checkpoint").text
    assert note == second.note
    body = small.client.get("/v1/log/proofs/inclusion", params={"index": 1}).json()
    assert verify_inclusion(base64.b64decode(body["leaf_hash"]), 1, body["tree_size"],
                            [base64.b64decode(h) for h in body["proof"]], second.root)


def test_history_and_exposure_queries(small: World) -> None:
    patient = fresh_patients(small)[0]
    optician = small.headers("optique.demo")
    engagement(small, optician, patient)
    with small.platform.uow(readonly=True) as repos:
        row = repos.beneficiaries.beneficiaries_by_nir(1, patient["nir"])[0]
    history = small.platform.audit.history(OFFICER, row.insurer_id, row.id)
    assert [e.tag for _, e in history] == [Tag.RIGHTS_CHECK]
    assert patient["nir"] not in history[0][1].canonical().decode()  # a pseudonym, never the NIR
    # The same by the numbers the insurer knows (AMC and member number), never internal ids.
    by_member = small.platform.audit.member_history(OFFICER, patient["amc_number"], patient["member_number"])
    assert [seq for seq, _ in by_member] == [seq for seq, _ in history]
    assert small.platform.audit.member_history(OFFICER, patient["amc_number"], "9999999999") == []
    account = small.demo_account_id("optique.demo")
    now = small.clock.now()
    exposed = small.platform.audit.exposure(OFFICER, account_id=account, start=now - timedelta(hours=1),
                                            end=now + timedelta(hours=1))
    assert {e.beneficiary for _, e in exposed} >= {history[0][1].beneficiary}
    with pytest.raises(Forbidden):
        small.platform.audit.history(Principal(1, 1, Role.PROFESSIONAL), row.insurer_id, row.id)


def test_fail_closed_no_event_no_engagement(small: World) -> None:
    optician = small.headers("optique.demo")
    with small.platform.engine.begin() as conn:
        conn.execute(delete(t.audit_head))  # the log cannot take events any more
        before = conn.execute(select(t.engagements.c.id)).all()
    refused = small.client.post("/v1/rights-checks", headers=optician,
                                json={**fresh_patients(small)[0], "date_of_care": "2026-03-02", "category": "optical"})
    assert refused.status_code == 503 and "engagement_number" not in refused.text
    with small.platform.engine.connect() as conn:
        assert conn.execute(select(t.engagements.c.id)).all() == before


TAMPERS = ["edit", "delete", "reorder", "truncate", "insert"]


@pytest.mark.parametrize("tamper", TAMPERS)
def test_tamper_drill_detected_by_verify(small: World, tamper: str) -> None:
    activity(small, patients=4)
    checkpoint = small.platform.audit.checkpoint()
    assert small.platform.audit.verify().ok
    events = t.audit_events
    with small.platform.engine.begin() as conn:
        rows = conn.execute(select(events).order_by(events.c.seq)).all()
        if tamper == "edit":  # hide who read: rewrite the entry (its leaf hash is computed from it)
            entry = rows[2].entry.replace('"purpose":"', '"purpose":"nothing to see: ')
            assert entry != rows[2].entry
            conn.execute(update(events).where(events.c.seq == 2).values(entry=entry))
        elif tamper == "delete":
            conn.execute(delete(events).where(events.c.seq == 3))
        elif tamper == "reorder":
            a, b = rows[1], rows[4]
            conn.execute(update(events).where(events.c.seq == 1).values(entry=b.entry))
            conn.execute(update(events).where(events.c.seq == 4).values(entry=a.entry))
        elif tamper == "truncate":
            conn.execute(delete(events).where(events.c.seq >= checkpoint.size - 2))
        elif tamper == "insert":  # shift everything after 2 and slip in a forged event
            for row in reversed(rows[2:]):
                conn.execute(update(events).where(events.c.seq == row.seq).values(seq=row.seq + 1))
            forged = rows[0]._mapping
            conn.execute(t.audit_events.insert().values({**forged, "seq": 2}))
    report = small.platform.audit.verify()
    assert not report.ok, tamper
    assert report.problems


def test_witness_detects_fork_and_rollback(small: World, tmp_path: Path) -> None:
    audit = small.platform.audit
    activity(small, patients=2)
    first = audit.checkpoint()
    witness = NoteSigner("witness.test", ed25519_generate()[0])
    log_key = audit.signer.verifier
    origin = small.platform.settings.log_origin
    state, line, _ = witness_step(first.note, log_key, origin, None, audit.consistency, witness)
    activity(small, patients=2)
    second = audit.checkpoint()
    state2, _, _ = witness_step(second.note, log_key, origin, state, audit.consistency, witness)
    assert state2.size == second.size
    # rollback: the log shows the older checkpoint again
    with pytest.raises(Alarm, match="rollback"):
        witness_step(first.note, log_key, origin, state2, audit.consistency, witness)
    # fork: a checkpoint of the same size with another root, validly signed by the log's key
    forged_root = bytes(32)
    forged = audit.signer.sign(Checkpoint(origin, second.size, forged_root).text())
    with pytest.raises(Alarm, match="fork"):
        witness_step(forged, log_key, origin, state2, audit.consistency, witness)
    # fork: a larger tree that does not extend what the witness saw
    bigger = audit.signer.sign(Checkpoint(origin, second.size + 5, forged_root).text())
    with pytest.raises(Alarm, match="fork"):
        witness_step(bigger, log_key, origin, state2, lambda a, b: audit.consistency(a, second.size), witness)
    # an unsigned or foreign note is refused outright
    with pytest.raises(ValueError):
        witness_step(NoteSigner("impostor", ed25519_generate()[0]).sign(Checkpoint(origin, 1, forged_root).text()),
                     log_key, origin, state2, audit.consistency, witness)
    WitnessState(1, forged_root).save(tmp_path / "w.json")
    assert WitnessState.load(tmp_path / "w.json") == WitnessState(1, forged_root)
    assert line.startswith("\u2014 witness.test ")


@pytest.mark.no_storage(reason="the canonical form of one event, in memory")
def test_event_round_trip() -> None:
    from datetime import UTC, datetime

    from tierspayant.audit.events import Category, Outcome

    event = AccessEvent(datetime(2026, 3, 2, tzinfo=UTC), Tag.RIGHTS_CHECK, 1, 2, 3, "b_x", 1,
                        (Category.COVERAGE,), "p", Outcome.OK, "r", "E-1")
    assert AccessEvent.from_canonical(event.canonical()) == event


def test_the_server_signs_checkpoints_on_its_own(new_world: Callable[..., World]) -> None:
    """The app's background task signs a checkpoint every checkpoint_seconds."""
    import time

    from fastapi.testclient import TestClient

    from tierspayant.api.app import create_app

    world = new_world(beneficiaries=30)
    activity(world, patients=1)
    platform = world.platform
    platform.settings = platform.settings.model_copy(update={"checkpoint_seconds": 0.2})
    with TestClient(create_app(platform)) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and client.get("/v1/log/checkpoint").status_code != 200:
            time.sleep(0.1)
        note = client.get("/v1/log/checkpoint").text
    # The seed's enrolment codes (one per demo account), then the activity's two events.
    assert note.split("\n")[1] == str(platform.audit.size()) == str(len(world.demo["accounts"]) + 2)
