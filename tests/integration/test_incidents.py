"""Breach response over HTTP on both databases (issue 14): an incident opened on a phished
account scopes exactly the people that account read -- not those a refused or unmatched check
touched, not those a colleague read -- proved against a checkpoint covering the window; its
steps go in order, none skipped; bad input is refused naming the field, nothing written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import World, fresh_patients
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.ports.delivery import Channel, Destination
from tierspayant.store import tables as t


@pytest.fixture()
def world(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=300)


def check(world: World, headers: dict[str, str], patient: dict[str, str], **changes: Any) -> int:
    return world.client.post("/v1/rights-checks", headers=headers, json={
        **patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical",
        **changes}).status_code


def window(world: World, start: Any) -> dict[str, str]:
    now = world.clock.now()
    return {"window_start": start.isoformat(), "window_end": now.isoformat(), "aware_at": now.isoformat()}


def on_the_optician(world: World, officer: dict[str, str], start: Any, summary: str) -> dict[str, Any]:
    """An incident opened on the phished optician's account, from ``start`` to now."""
    opened = world.client.post("/v1/incidents", headers=officer, json={
        "summary": summary, "accounts": [world.demo_account_id("optique.demo")], **window(world, start)})
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


def test_an_incident_on_a_phished_account_scopes_exactly_what_it_read(world: World) -> None:
    start = world.clock.now() - timedelta(minutes=1)
    thief, colleague = world.headers("optique.demo"), world.headers("medecin.demo")
    read = fresh_patients(world, count=3)
    others = fresh_patients(world, count=2)
    for patient in read:
        world.clock.advance(seconds=30)
        assert check(world, thief, patient) == 200
    assert check(world, thief, others[0], birth_date="1900-01-01") == 200  # matched nobody: nothing disclosed
    for patient in others:
        assert check(world, colleague, patient) == 200  # read by a legitimate professional
    world.clock.advance(minutes=1)
    officer = world.headers("securite.demo")
    incident = on_the_optician(world, officer, start, "phished optician account")
    assert incident["step"] == "opened" and incident["notify_cnil_by"] > incident["aware_at"]
    scope = world.client.post(f"/v1/incidents/{incident['id']}/scope", headers=officer)
    assert scope.status_code == 200, scope.text
    body = scope.json()
    [controller] = body["controllers"]
    assert controller["people"] == 3 and controller["not_found"] == 1 and controller["refused"] == 0
    assert controller["categories"] == {"coverage": 3}
    assert "exposures" not in controller  # no identity in the summary
    first, last = body["leaves"]
    assert first is not None and last >= first and body["checkpoint_size"] > last  # a checkpoint covers the window
    assert all(p["nir"] not in scope.text for p in read + others)
    shown = world.client.get(f"/v1/incidents/{incident['id']}", headers=officer).json()
    assert shown["step"] == "scoped" and shown["scope_digest"] == body["digest"]
    assert [s["step"] for s in shown["steps"]] == ["opened", "scoped"]


def test_steps_go_in_order_none_skipped_each_by_a_named_account(world: World, tmp_path: Path) -> None:
    # The controller's system gets the processor's notice and word of its people's notices
    # through the outbox (a file drop here: services/announcements.py).
    world.platform.delivery.add(OPERATOR_SHELL, Destination(
        0, f"controller-{world.backend}", Channel.FILE, {"directory": str(tmp_path)},
        ("incident.processor_notice", "incident.notices_queued"), 1, None))
    start = world.clock.now() - timedelta(minutes=1)
    thief = world.headers("optique.demo")
    [patient] = fresh_patients(world, count=1)
    assert check(world, thief, patient) == 200
    world.clock.advance(seconds=5)
    officer, second = world.headers("securite.demo"), world.headers("securite2.demo")
    incident = on_the_optician(world, officer, start, "stolen session")
    url = f"/v1/incidents/{incident['id']}"

    def step(name: str, headers: dict[str, str] = officer, **extra: Any) -> Any:
        return world.client.post(f"{url}/steps", headers=headers, json={"step": name, **extra})

    skipped = step("people_notified")
    assert skipped.status_code == 422 and "step" in [e["field"] for e in skipped.json()["errors"]]
    assert step("scoped").status_code == 422  # computed, never declared
    assert world.client.post(f"{url}/scope", headers=officer).status_code == 200
    early = step("controllers_informed")
    assert early.status_code == 422 and "processor's notice" in early.text  # Art. 33(2) first
    notice = world.client.post(f"{url}/reports", headers=officer, json={"insurer_id": 1, "kind": "processor_notice"})
    assert notice.status_code == 201 and notice.json()["version"] == 1
    assert step("controllers_informed", note="processor's notice sent").status_code == 200
    missing = step("cnil_notified")
    assert missing.status_code == 422 and "insurer_id" in [e["field"] for e in missing.json()["errors"]]
    assert step("cnil_notified", second, insurer_id=1, note="CNIL notification sent").status_code == 200
    assert step("cnil_notified", insurer_id=1).status_code == 422  # already recorded
    assert step("people_notified").status_code == 422  # no notice queued yet
    queued = world.client.post(f"{url}/notices", headers=officer, json={})
    assert queued.status_code == 200 and queued.json()["queued"] == 3 and queued.json()["failed_lint"] == 0
    assert world.client.post(f"{url}/notices", headers=officer, json={}).json()["queued"] == 0  # idempotent
    for _ in range(2):  # one incident's messages to a controller in order: one a pass
        asyncio.run(world.platform.relay.once())
    sent = sorted((json.loads(f.read_text()) for f in tmp_path.glob("msg_*.json")), key=lambda m: m["type"])
    assert [m["type"] for m in sent] == ["incident.notices_queued", "incident.processor_notice"]  # each once
    assert sent[1]["data"]["incident_id"] == incident["id"] and sent[1]["data"]["version"] == 1
    assert sum(sent[0]["data"]["notices"].values()) == queued.json()["queued"]
    assert patient["nir"] not in json.dumps(sent)  # counts, never a person
    assert step("people_notified").status_code == 200
    assert step("closed").status_code == 200
    assert step("closed").status_code == 422
    steps = world.client.get(url, headers=officer).json()["steps"]
    assert [s["step"] for s in steps] == ["opened", "scoped", "controllers_informed", "cnil_notified",
                                          "people_notified", "closed"]
    assert steps[3]["by_account"] == world.demo_account_id("securite2.demo")
    with world.platform.engine.connect() as conn:
        tags = conn.execute(select(t.audit_events.c.tag).where(t.audit_events.c.tag.like("incidents:%"))).scalars().all()
    assert tags.count("incidents:step:create") == 4 and "incidents:incident:create" in tags


@pytest.mark.parametrize(("change", "field"), [
    ({"accounts": [999_999]}, "accounts[0]"),
    ({"sessions": [999_999]}, "sessions[0]"),
    ({"professionals": [999_999]}, "professionals[0]"),
    ({"tables": ["sessions"]}, "tables[0]"),
    ({"key_versions": [{"insurer_id": 999_999, "version": 1}]}, "key_versions[0]"),
    ({"accounts": []}, "accounts"),
    ({"window_start": "end"}, "window_end"),  # reversed
    ({"window_end": "future"}, "window_end"),
    ({"aware_at": "before"}, "aware_at"),  # awareness before the window
    ({"aware_at": "2026-03-02T10:00:00"}, "aware_at"),  # no time zone
])
def test_bad_incidents_are_refused_naming_the_field_and_nothing_is_written(world: World, change: dict[str, Any],
                                                                           field: str) -> None:
    now = world.clock.now()
    body: dict[str, Any] = {"summary": "test", "accounts": [world.demo_account_id("optique.demo")],
                            "window_start": (now - timedelta(hours=2)).isoformat(),
                            "window_end": (now - timedelta(hours=1)).isoformat(), "aware_at": now.isoformat(),
                            **change}
    if change.get("window_start") == "end":
        body["window_start"] = (now - timedelta(minutes=30)).isoformat()
    if change.get("window_end") == "future":
        body["window_end"] = (now + timedelta(hours=1)).isoformat()
    if change.get("aware_at") == "before":
        body["aware_at"] = (now - timedelta(hours=3)).isoformat()
    answer = world.client.post("/v1/incidents", headers=world.headers("securite.demo"), json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
    with world.platform.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.incidents)).scalar_one() == 0


def test_only_security_officers_and_the_dpo_handle_incidents(world: World) -> None:
    for username in ("optique.demo", "assureur.demo", "admin.demo"):
        assert world.client.get("/v1/incidents", headers=world.headers(username)).status_code == 403
    assert world.client.get("/v1/incidents", headers=world.headers("securite.demo", passkey=False)).status_code == 403


def test_the_art33_report_holds_every_item_with_the_scopes_numbers_as_json_html_and_pdf(world: World) -> None:
    start = world.clock.now() - timedelta(minutes=1)
    thief = world.headers("optique.demo")
    for patient in fresh_patients(world, count=4):
        assert check(world, thief, patient) == 200
    world.clock.advance(seconds=5)
    officer = world.headers("securite.demo")
    incident = on_the_optician(world, officer, start, "phished optician account")
    url = f"/v1/incidents/{incident['id']}"
    [controller] = world.client.post(f"{url}/scope", headers=officer).json()["controllers"]
    first = world.client.post(f"{url}/reports", headers=officer, json={
        "insurer_id": 1, "measures_proposed": ["Renouveler les accès de tous les opticiens du réseau."]})
    assert first.status_code == 201, first.text
    report = first.json()
    # Art. 33(3): (a) nature, categories and numbers; (b) the DPO; (c) consequences; (d) measures.
    nature = report["nature"]
    assert (nature["people"], nature["records"], nature["categories"]) == (
        controller["people"], controller["records"], controller["categories"]) == (4, 4, {"coverage": 4})
    assert nature["disclosed_nothing"] == {"refused": 0, "not_found": 0}
    assert report["dpo"].startswith("Délégué à la protection des données")
    assert report["consequences"] and report["measures"]["taken"] and report["measures"]["proposed"]
    assert report["deadline"] == (datetime.fromisoformat(report["aware_at"]) + timedelta(hours=72)).isoformat()
    assert 71 < report["hours_left"] <= 72 and report["phase"] == "initial"
    assert sum(n for _, n in report["exposures_over_time"]) == 4
    again = world.client.post(f"{url}/reports", headers=officer, json={"insurer_id": 1}).json()
    assert again["version"] == 2 and again["phase"] == "complementary"  # Art. 33(4): in phases
    page = world.client.get(f"{url}/reports/1?format=html", headers=officer)
    assert page.status_code == 200 and "<svg" in page.text and "Nature de la violation" in page.text
    pdf = world.client.get(f"{url}/reports/1?format=pdf", headers=officer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 5_000
    assert world.client.post(f"{url}/reports", headers=officer, json={"insurer_id": 2}).status_code == 422
    assert world.client.get(f"{url}/reports/1?kind=processor_notice", headers=officer).status_code == 404


def test_verify_scope_recomputes_from_the_log_alone_and_fails_when_an_event_is_removed_or_added(world: World) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import delete, insert

    start = world.clock.now() - timedelta(minutes=1)
    thief = world.headers("optique.demo")
    for patient in fresh_patients(world, count=3):
        assert check(world, thief, patient) == 200
    world.clock.advance(seconds=5)
    officer = world.headers("securite.demo")
    incident = on_the_optician(world, officer, start, "phished optician account")
    assert world.client.post(f"/v1/incidents/{incident['id']}/scope", headers=officer).status_code == 200
    tiers = Path(sys.executable).parent / "tiers"
    env = {**world.env(), "PATH": str(tiers.parent)}

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tiers), "incident", "verify-scope", str(incident["id"])], env=env,
                              capture_output=True, text=True)

    agreed = verify()
    assert agreed.returncode == 0, agreed.stdout + agreed.stderr
    assert "3 people exposed through the log" in agreed.stdout and "agrees" in agreed.stdout
    with world.platform.engine.begin() as conn:
        rows = conn.execute(select(t.audit_events).where(t.audit_events.c.tag == "rights:beneficiary:read")
                            .order_by(t.audit_events.c.seq)).all()
        removed = rows[-1]
        conn.execute(delete(t.audit_events).where(t.audit_events.c.seq == removed.seq))
    gone = verify()
    assert gone.returncode == 1 and "missing" in gone.stdout, gone.stdout
    with world.platform.engine.begin() as conn:
        conn.execute(insert(t.audit_events).values(removed._mapping))  # put back: agrees again
    assert verify().returncode == 0
    with world.platform.engine.begin() as conn:  # an event dated in the window, appended after the checkpoint
        size = conn.execute(select(func.max(t.audit_events.c.seq))).scalar_one() + 1
        conn.execute(insert(t.audit_events).values({**removed._mapping, "seq": size}))
        conn.execute(t.audit_head.update().values(size=size + 1))
    added = verify()
    assert added.returncode == 1 and "beyond the signed checkpoint" in added.stdout, added.stdout


def test_a_controllers_export_needs_two_officers_opens_only_with_its_key_and_downloads_once(world: World) -> None:
    import json

    from tierspayant.audit.checkpoints import Checkpoint
    from tierspayant.audit.merkle import verify_inclusion
    from tierspayant.security.sealed_box import SealedBoxError, generate_keypair, open_sealed

    start = world.clock.now() - timedelta(minutes=1)
    thief = world.headers("optique.demo")
    read = fresh_patients(world, count=2)
    for patient in read:
        assert check(world, thief, patient) == 200
    world.clock.advance(seconds=5)
    officer, second = world.headers("securite.demo"), world.headers("securite2.demo")
    incident = on_the_optician(world, officer, start, "phished optician account")
    url = f"/v1/incidents/{incident['id']}"
    assert world.client.post(f"{url}/exports", headers=officer, json={"insurer_id": 1}).status_code == 422  # no scope
    assert world.client.post(f"{url}/scope", headers=officer).status_code == 200
    asked = world.client.post(f"{url}/exports", headers=officer, json={"insurer_id": 1})
    assert asked.status_code == 201, asked.text
    export = asked.json()["id"]
    assert world.client.get(f"{url}/exports/{export}/file", headers=officer).status_code == 422  # not approved
    own = world.client.post(f"{url}/exports/{export}/approve", headers=officer)  # its own request: dual control
    assert own.status_code == 422 and "export_id" in [e["field"] for e in own.json()["errors"]]
    approved = world.client.post(f"{url}/exports/{export}/approve", headers=second)
    assert approved.status_code == 200 and approved.json()["approved_by"] == world.demo_account_id("securite2.demo")
    sealed = world.client.get(f"{url}/exports/{export}/file", headers=officer)
    assert sealed.status_code == 200 and sealed.headers["cache-control"] == "no-store"
    assert all(p["nir"] not in sealed.text and p["member_number"] not in sealed.text for p in read)
    assert world.client.get(f"{url}/exports/{export}/file", headers=second).status_code == 422  # once
    private = world.demo["insurer_export_keys"]["1"]
    content = json.loads(open_sealed(private, sealed.text))
    assert sorted(p["identity"]["nir"] for p in content["people"]) == sorted(p["nir"] for p in read)
    signed = Checkpoint.parse(content["checkpoint"]["note"].split("\n\n")[0] + "\n")
    assert signed.size == content["checkpoint"]["size"]
    proofs = [proof for person in content["people"] for proof in person["proofs"]]
    assert len(proofs) == 2  # each event relied on, proved against the signed checkpoint
    for proof in proofs:
        assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["index"], signed.size,
                                [bytes.fromhex(h) for h in proof["hashes"]], signed.root)
    with pytest.raises(SealedBoxError):
        open_sealed(generate_keypair()[0], sealed.text)  # another key opens nothing
    with world.platform.engine.connect() as conn:
        assert conn.execute(select(t.incident_exports.c.sealed)).scalar() is None  # dropped after its download
        tags = conn.execute(select(t.audit_events.c.tag).where(t.audit_events.c.tag.like("incidents:export:%"))
                            ).scalars().all()
    assert sorted(tags) == ["incidents:export:approve", "incidents:export:read", "incidents:export:request"]
    late = world.client.post(f"{url}/exports", headers=officer, json={"insurer_id": 1}).json()["id"]
    assert world.client.post(f"{url}/exports/{late}/approve", headers=second).status_code == 200
    world.clock.advance(hours=25)  # an approved export waits 24 h for its one download
    expired = world.client.get(f"{url}/exports/{late}/file", headers=world.headers("securite.demo"))
    assert expired.status_code == 422 and "expired" in expired.text


def test_the_72_hour_clock_alerts_at_24_48_and_66_hours_until_the_cnil_is_notified(world: World) -> None:
    start = world.clock.now() - timedelta(minutes=1)
    officer = world.headers("securite.demo")
    incident = on_the_optician(world, officer, start, "stolen session")
    remind = world.platform.incidents.remind
    assert remind() == []
    world.clock.advance(hours=25)
    [first] = remind()
    assert f"incident {incident['id']}: 24 h since awareness" in first
    assert remind() == []  # once per mark
    world.clock.advance(hours=42)  # 67 h: the 48 h and 66 h marks
    assert [a.split(":")[1].split(" since")[0].strip() for a in remind()] == ["48 h", "66 h"]
    officer = world.headers("securite.demo")  # a new session: the first one lapsed in those hours
    alerts = world.client.get("/v1/security/alerts", headers=officer).json()
    assert sum("since awareness" in a["text"] for a in alerts) == 3
    steps = world.client.get(f"/v1/incidents/{incident['id']}", headers=officer).json()["steps"]
    assert [s["note"] for s in steps if s["step"] == "reminder"] == [
        "24 h after awareness", "48 h after awareness", "66 h after awareness"]


def test_a_compromised_key_exposes_every_row_under_it_and_a_dump_with_safe_keys_ciphertext_only(world: World) -> None:
    now = world.clock.now()
    officer = world.headers("securite.demo")
    span = {"window_start": (now - timedelta(hours=2)).isoformat(), "window_end": now.isoformat(),
            "aware_at": now.isoformat()}
    with world.platform.engine.connect() as conn:
        per_insurer = dict(conn.execute(select(t.beneficiaries.c.insurer_id, func.count())
                                        .group_by(t.beneficiaries.c.insurer_id)).all())
        purchases = conn.execute(select(func.count()).select_from(t.optical_purchases)
                                 .where(t.optical_purchases.c.insurer_id == 1)).scalar_one()

    def scope_of(**compromised: Any) -> dict[int, Any]:
        made = world.client.post("/v1/incidents", headers=officer, json={"summary": "keys", **span, **compromised})
        assert made.status_code == 201, made.text
        body = world.client.post(f"/v1/incidents/{made.json()['id']}/scope", headers=officer).json()
        return {c["insurer_id"]: c for c in body["controllers"]}

    keyed = scope_of(key_versions=[{"insurer_id": 1, "version": 1}])
    assert set(keyed) == {1}  # one insurer's key version: its rows only
    assert keyed[1]["people"] == per_insurer[1] and keyed[1]["ciphertext_only"] == 0
    assert keyed[1]["categories"]["identity"] == per_insurer[1]
    assert keyed[1]["records"] == per_insurer[1] + purchases  # beneficiaries and optical purchases sealed under it
    assert scope_of(key_versions=[{"insurer_id": 1, "version": 2}]) == {}  # a version nothing is sealed under
    dumped = scope_of(tables=["beneficiaries"])
    assert {i: c["people"] for i, c in dumped.items()} == per_insurer
    assert all(c["ciphertext_only"] == c["people"] for c in dumped.values())  # keys safe: Art. 34(3)(a)
    everything = scope_of(kek=True, tables=["beneficiaries"])  # the KEK with the dump: readable
    assert {i: c["people"] for i, c in everything.items()} == per_insurer
    assert all(c["ciphertext_only"] == 0 for c in everything.values())
