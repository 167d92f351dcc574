"""The beneficiary lifecycle over HTTP, on SQLite and PostgreSQL (services/lifecycle.py): an
insurer's operator finds a membership by member number or a beneficiary by NIR (exact only, in
the body, each lookup on the log, no NIR in the answer), corrects a name, adds a dependant who is
then covered, changes the contract at a date (care before keeps the old one, care after is
computed under the new one) and radiates the membership (no check covers after the date).
Another insurer's beneficiary answers 404; professionals get 403; detection counts lookups."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES
from tierspayant.domain.identifiers import nir_key
from tierspayant.simulate.member_file import write_member_file
from tierspayant.store import tables as t

AMC = "990000011"
BASE = f"/v1/insurers/{AMC}/beneficiaries"


def logged(world: World, tag: str) -> int:
    with world.platform.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.entry.like(f'%"tag":"{tag}"%'))).scalar_one())


def synthetic_nir(serial: int) -> str:
    first13 = f"2900575{serial:06d}"
    return first13 + nir_key(first13)


def check(world: World, headers: dict[str, str], patient: dict[str, str], at: date) -> dict[str, Any]:
    response = world.client.post("/v1/rights-checks", headers=headers, json={
        **patient, "date_of_care": at.isoformat(), "category": "optical"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def quote_amc(world: World, headers: dict[str, str], patient: dict[str, str], at: date) -> str:
    number = check(world, headers, patient, at)["engagement_number"]
    quote = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": number, "kind": "simulation", "lines": GLASSES})
    assert quote.status_code == 201, quote.text
    return str(quote.json()["amc"])


def test_find_correct_add_a_dependant_change_the_contract_and_end_rights(world: World) -> None:
    insurer, optician = world.headers("assureur.demo"), world.headers("optique.demo")
    patient = fresh_patients(world)[0]
    today = world.clock.now().date()
    reads = logged(world, "reference:beneficiary:read")

    found = world.client.post(f"{BASE}/find", headers=insurer, json={"member_number": patient["member_number"]})
    assert found.status_code == 200, found.text
    family = found.json()["beneficiaries"]
    member = next(b for b in family if b["rank"] == 0)
    assert all("nir" not in b for b in family) and patient["nir"] not in found.text
    by_nir = world.client.post(f"{BASE}/find", headers=insurer, json={"nir": patient["nir"]})
    # The patient may be the member or a dependant: its NIR finds it within the membership.
    assert by_nir.status_code == 200 and {b["id"] for b in by_nir.json()["beneficiaries"]} & {b["id"] for b in family}
    assert logged(world, "reference:beneficiary:read") == reads + len(family) + len(by_nir.json()["beneficiaries"])

    # Exact matches only: a prefix finds nobody, a name is no key, one key at a time.
    prefix = world.client.post(f"{BASE}/find", headers=insurer, json={"member_number": patient["member_number"][:-1]})
    assert prefix.status_code == 404
    assert logged(world, "reference:beneficiary:read") == reads + len(family) + len(by_nir.json()["beneficiaries"]) + 1
    by_name = world.client.post(f"{BASE}/find", headers=insurer, json={"last_name": member["last_name"]})
    assert by_name.status_code == 422 and by_name.json()["errors"][0]["field"] == "last_name"
    both = world.client.post(f"{BASE}/find", headers=insurer, json={"member_number": patient["member_number"],
                                                                    "nir": patient["nir"]})
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "member_number"
    assert world.client.post(f"{BASE}/find", headers=optician, json={"nir": patient["nir"]}).status_code == 403

    corrected = world.client.patch(f"{BASE}/{member['id']}", headers=insurer, json={"last_name": "Martin-Durand"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["beneficiaries"][0]["last_name"] is None  # a change's answer names nobody
    again = world.client.post(f"{BASE}/find", headers=insurer, json={"member_number": patient["member_number"]})
    assert "Martin-Durand" in [b["last_name"] for b in again.json()["beneficiaries"]]
    bad = world.client.patch(f"{BASE}/{member['id']}", headers=insurer, json={"nir": "185057800608437"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "nir"

    rank = max(b["rank"] for b in family) + 1
    dependant_nir = synthetic_nir(900_000 + member["id"] % 1000 + (0 if world.backend == "sqlite" else 1000))
    added = world.client.post(f"{BASE}/{member['id']}/dependants", headers=insurer, json={
        "rank": rank, "nir": dependant_nir, "birth_date": "2015-06-01", "last_name": "Martin",
        "first_name": "Léa", "rights_start": today.isoformat(), "categories": ["optical"]})
    assert added.status_code == 201, added.text
    dependant = {"amc_number": AMC, "member_number": patient["member_number"], "nir": dependant_nir,
                 "birth_date": "2015-06-01"}
    assert check(world, optician, dependant, today)["covered"] is True
    taken = world.client.post(f"{BASE}/{member['id']}/dependants", headers=insurer, json={
        "rank": rank, "nir": dependant_nir, "birth_date": "2015-06-01", "last_name": "Martin",
        "first_name": "Léa", "rights_start": today.isoformat(), "categories": ["optical"]})
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "rank"

    # A contract change at a date: care before it keeps the old contract, care from it the new.
    other = "RESP-TM" if member["contract_code"] != "RESP-TM" else "RESP-CONFORT"
    effective = today + timedelta(days=10)
    before = quote_amc(world, optician, patient, today + timedelta(days=9))
    changed = world.client.post(f"{BASE}/{member['id']}/contract-changes", headers=insurer, json={
        "contract_code": other, "effective": effective.isoformat()})
    assert changed.status_code == 200, changed.text
    rights = next(b for b in changed.json()["beneficiaries"] if b["id"] == member["id"])["rights"]
    assert any(r["end"] == (effective - timedelta(days=1)).isoformat() and r["contract_code"] == member["contract_code"]
               for r in rights)
    assert any(r["start"] == effective.isoformat() and r["contract_code"] == other for r in rights)
    assert quote_amc(world, optician, patient, today + timedelta(days=9)) == before
    assert quote_amc(world, optician, patient, today + timedelta(days=11)) != before
    unknown = world.client.post(f"{BASE}/{member['id']}/contract-changes", headers=insurer, json={
        "contract_code": "NO-SUCH", "effective": effective.isoformat()})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "contract_code"

    # Radiation of the member ends the whole membership's rights at the date.
    erased = world.client.put(f"{BASE}/{member['id']}/rights-end", headers=insurer, json={"end": "1990-01-01"})
    assert erased.status_code == 422 and erased.json()["errors"][0]["field"] == "end"  # history kept
    ended = world.client.put(f"{BASE}/{member['id']}/rights-end", headers=insurer,
                             json={"end": (today + timedelta(days=2)).isoformat()})
    assert ended.status_code == 200, ended.text
    assert all(b["birth_date"] is None for b in ended.json()["beneficiaries"])
    assert check(world, optician, patient, today + timedelta(days=2))["covered"] is True
    assert check(world, optician, patient, today + timedelta(days=3))["covered"] is False
    assert check(world, optician, dependant, today + timedelta(days=3))["covered"] is False
    assert logged(world, "reference:beneficiary:end") >= 2


def test_another_insurers_beneficiary_answers_like_a_missing_one(world: World) -> None:
    insurer = world.headers("assureur.demo")
    with world.platform.engine.connect() as conn:
        foreign = conn.execute(select(t.beneficiaries.c.id).where(t.beneficiaries.c.insurer_id == 2).limit(1)).scalar_one()
    for method, suffix, body in (("patch", "", {"last_name": "X"}), ("put", "/rights-end", {"end": "2026-01-01"}),
                                 ("post", "/contract-changes", {"contract_code": "RESP-TM", "effective": "2026-04-01"})):
        answer = world.client.request(method.upper(), f"{BASE}/{foreign}{suffix}", headers=insurer, json=body)
        missing = world.client.request(method.upper(), f"{BASE}/2000000000{suffix}", headers=insurer, json=body)
        assert answer.status_code == missing.status_code == 404 and answer.json() == missing.json()
    other_insurer = world.client.post("/v1/insurers/990000029/beneficiaries/find", headers=insurer,
                                      json={"member_number": "0000000001"})
    assert other_insurer.status_code == 404


def test_an_operator_walking_the_population_is_contained(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=40, detection=None)  # the platform's real thresholds
    insurer = world.headers("assureur.demo")
    statuses = [world.client.post(f"{BASE}/find", headers=insurer, json={"member_number": f"{n:010d}"}).status_code
                for n in range(8_000_000, 8_000_030)]
    assert 404 in statuses and (429 in statuses or 401 in statuses), statuses
    assert statuses.index(429 if 429 in statuses else 401) < 25
    # Walking ids through a change route is counted the same way (and changes nothing).
    walker = new_world(beneficiaries=40, detection=None)
    insurer = walker.headers("assureur.demo")
    answers = [walker.client.put(f"{BASE}/{n}/rights-end", headers=insurer, json={"end": "2199-12-31"}).status_code
               for n in range(1, 31)]
    assert 429 in answers or 401 in answers, answers
    assert answers.index(429 if 429 in answers else 401) < 25


def test_a_membership_file_sent_over_http_is_imported_in_the_background(world: World, tmp_path: Path) -> None:
    insurer = world.headers("assureur.demo")
    path = tmp_path / "members.csv"
    first = 7_500_000 if world.backend == "sqlite" else 7_600_000
    planted = write_member_file(path, 300, first_member=first, bad_share=0.05)
    wrong_type = world.client.post(f"/v1/insurers/{AMC}/member-files", headers=insurer, content=path.read_bytes())
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["field"] == "content-type"
    sent = world.client.post(f"/v1/insurers/{AMC}/member-files", content=path.read_bytes(),
                             headers={**insurer, "content-type": "text/csv"})
    assert sent.status_code == 202, sent.text
    location = sent.headers["location"]
    deadline = time.monotonic() + 60
    while True:
        state = world.client.get(location, headers=insurer)
        assert state.status_code == 200, state.text
        if state.json()["finished"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    body = state.json()
    assert body["finished"] and body["lines_done"] == 300
    assert {r["line"]: r["field"] for r in body["refusals"]} == planted
    assert body["created"] == 300 - len(planted)
    assert not list((world.platform.settings.var_dir / "uploads").glob("*.csv"))  # the upload is removed
    header_only = world.client.post(f"/v1/insurers/{AMC}/member-files", content=b"member,rank\n",
                                    headers={**insurer, "content-type": "text/csv"})
    assert header_only.status_code == 422 and header_only.json()["errors"][0]["field"] == "header"
    other = world.client.get(location.replace(AMC, "990000029"), headers=insurer)
    assert other.status_code == 404
    # Another insurer's number: refused before a byte is kept.
    foreign = world.client.post("/v1/insurers/990000029/member-files", content=path.read_bytes(),
                                headers={**insurer, "content-type": "text/csv"})
    assert foreign.status_code == 404
    assert not list((world.platform.settings.var_dir / "uploads").glob("*.csv"))
