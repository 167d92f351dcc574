"""Onboarding a new optician end to end over HTTP, on SQLite and PostgreSQL: the operator
registers the shop and its admin, the admin creates the optician's account, each enrols a
passkey with the code handed over, and the optician's first rights check, quote and invoice are
listed by the optician and by the insurer. Every step on the log; other organisations meet 404."""

from __future__ import annotations

import json

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines
from tierspayant.store import tables as t

IBAN, BIC = "FR7630006000011234567890189", "AGRIFRPPXXX"


def shop(world: World) -> str:
    return "750100001" if world.backend == "sqlite" else "750100002"


def test_a_new_optician_from_registration_to_a_listed_invoice(world: World) -> None:
    operator = world.headers("admin.demo")
    admin, optician = f"gerant.{world.backend}", f"opticienne.{world.backend}"
    registered = world.client.post("/v1/organisations", headers=operator, json={
        "kind": "FINESS", "identifier": shop(world), "name": "Optique Nouvelle", "admin_username": admin})
    assert registered.status_code == 201, registered.text
    assert registered.json()["role"] == "organisation_admin"
    again = world.client.post("/v1/organisations", headers=operator, json={
        "kind": "FINESS", "identifier": shop(world), "name": "Optique Nouvelle", "admin_username": admin + "2"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "organisation_identifier"
    world.enrol_passkey(admin, registered.json()["enrolment_code"])

    rpps = "10000001015" if world.backend == "sqlite" else "10000001023"
    created = world.client.post(f"/v1/organisations/{shop(world)}/accounts", headers=world.headers(admin), json={
        "username": optician, "role": "professional", "professional": {
            "rpps": rpps, "am_number": "751234567", "profession": "optician", "name": "Opticienne Nouvelle",
            "iban": IBAN, "bic": BIC}})
    assert created.status_code == 201, created.text
    # No password signs a new account in: its holder registers a passkey with the code.
    world.enrol_passkey(optician, created.json()["enrolment_code"])
    twice = world.client.post(f"/v1/organisations/{shop(world)}/accounts", headers=world.headers(admin),
                              json={"username": optician + ".bis", "role": "professional", "rpps": rpps})
    assert twice.status_code == 409 and twice.json()["errors"][0]["field"] == "professional"

    listed = world.client.get(f"/v1/organisations/{shop(world)}/accounts", headers=world.headers(admin)).json()
    assert [(a["username"], a["role"], a["passkeys"]) for a in listed] == [
        (admin, "organisation_admin", 1), (optician, "professional", 1)]

    headers = world.headers(optician)
    number = engagement(world, headers, fresh_patients(world)[0])
    pec = world.client.post("/v1/quotes", headers=headers, json={"engagement_number": number, "kind": "pec",
                                                                  "lines": GLASSES})
    assert pec.status_code == 201, pec.text
    invoice_number = f"F-NEW-{world.backend}"
    sent = world.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": invoice_number, "pec_number": pec.json()["number"],
        "date_of_care": world.clock.now().date().isoformat(), "lines": invoice_lines(GLASSES, pec.json())})
    assert sent.status_code == 201, sent.text

    mine = world.client.get("/v1/invoices", headers=headers).json()
    assert [i["invoice_number"] for i in mine["items"]] == [invoice_number] and mine["next"] is None
    quotes = world.client.get("/v1/quotes", headers=headers).json()
    assert [q["number"] for q in quotes["items"]] == [pec.json()["number"]]
    received = world.client.get("/v1/invoices", headers=world.headers("assureur.demo"),
                                params={"rpps": rpps}).json()
    assert [i["invoice_number"] for i in received["items"]] == [invoice_number]

    # A professional is not an admin (another organisation's admin: the next test, 404).
    other = world.client.get(f"/v1/organisations/{shop(world)}/accounts", headers=world.headers("optique.demo"))
    assert other.status_code == 403
    with world.platform.engine.connect() as conn:
        entries = [json.loads(row.entry) for row in conn.execute(
            t.audit_events.select().order_by(t.audit_events.c.seq.desc()).limit(200))]
    tags = {e["tag"] for e in entries}
    assert {"accounts:organisation:create", "accounts:account:create", "accounts:enrolment_code:create"} <= tags
    assert not any(admin in json.dumps(e) or optician in json.dumps(e) for e in entries)  # ids, never names


def test_password_sessions_and_other_organisations_cannot_give_access(world: World) -> None:
    operator = world.headers("admin.demo")
    first, second = f"gerant.a.{world.backend}", f"gerant.b.{world.backend}"
    identifiers = ("750200001", "750200002") if world.backend == "sqlite" else ("750200003", "750200004")
    for username, identifier in zip((first, second), identifiers, strict=True):
        made = world.client.post("/v1/organisations", headers=operator, json={
            "kind": "FINESS", "identifier": identifier, "name": "Optique", "admin_username": username})
        assert made.status_code == 201, made.text
        world.enrol_passkey(username, made.json()["enrolment_code"])
    body = {"username": f"intrus.{world.backend}", "role": "organisation_admin"}
    foreign = world.client.post(f"/v1/organisations/{identifiers[0]}/accounts", headers=world.headers(second), json=body)
    missing = world.client.post("/v1/organisations/750299999/accounts", headers=world.headers(second), json=body)
    assert (foreign.status_code, foreign.json()["title"]) == (missing.status_code, missing.json()["title"]) == (404, "Not found")
    disable = world.client.put(f"/v1/accounts/{first}/disabled", headers=world.headers(second), json={"disabled": True})
    assert disable.status_code == 404
    password = world.client.post("/v1/organisations", headers=world.headers("admin.demo", passkey=False), json={
        "kind": "FINESS", "identifier": "750299998", "name": "X", "admin_username": f"x.{world.backend}"})
    assert password.status_code == 403  # giving access needs a passkey session
    bad = world.client.post(f"/v1/organisations/{identifiers[1]}/accounts", headers=world.headers(second),
                            json={"username": "Bad Name", "role": "professional"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "username"
    last = world.client.put(f"/v1/accounts/{second}/disabled", headers=world.headers(second), json={"disabled": True})
    assert last.status_code == 409  # an organisation keeps an enabled admin
