"""Care networks by API, on SQLite and PostgreSQL (services/networks.py): an insurer's operator
ends the demo optician's membership of the seeded network, creates a network of its own, adds
the optician for dated days and a negotiated frame price; a quote and an invoice dated inside
those days are capped (NETWORK_PRICE_CAP, R007), the same care dated outside is not. Another
insurer's operator meets 404 as for a missing network, a professional 403; bad input is 422
naming the field; every change is on the log, with no professional's number in it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES
from tierspayant.domain.contracts import ClassBCoverage
from tierspayant.security.policy import Role
from tierspayant.store import tables as t

AMC = "990000011"
FRAME_CAP = "60.00"  # below every contract's frame cap (80 or 100): the network's price binds


def optician_rpps(world: World) -> str:
    account = world.demo_account_id("optique.demo")
    with world.platform.engine.connect() as conn:
        return str(conn.execute(select(t.professionals.c.rpps).join(
            t.accounts, t.accounts.c.professional_id == t.professionals.c.id).where(
            t.accounts.c.id == account)).scalar_one())


def beyond_tm_patients(world: World, count: int) -> list[dict[str, str]]:
    """Fresh patients whose contract covers class B beyond the TM (where a network's price
    applies: docs/DOMAIN.md "Allocation" 5)."""
    out = []
    with world.platform.uow(readonly=True) as tx:
        for patient in fresh_patients(world, count=4 * count):
            [beneficiary] = [b for b in tx.beneficiaries.beneficiaries_by_nir(1, patient["nir"])
                             if b.member_number == patient["member_number"]]
            contract = tx.reference.contract(beneficiary.contract_id)
            if contract is not None and contract.optical.class_b_coverage is not ClassBCoverage.TM_ONLY:
                out.append(patient)
    assert len(out) >= count
    return out[:count]


def care(world: World, patient: dict[str, str], day: date, number: str,
         frame_claim: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A simulation and an invoice of the glasses dated ``day``, claiming what the simulation
    computed (the frame's ``frame_claim`` when given): the quote and the invoice's answer."""
    optician = world.headers("optique.demo")
    check = world.client.post("/v1/rights-checks", headers=optician, json={
        **patient, "date_of_care": day.isoformat(), "category": "optical"})
    assert check.status_code == 200 and check.json()["covered"], check.text
    engagement = check.json()["engagement_number"]
    quote = world.client.post("/v1/quotes", headers=optician, json={
        "engagement_number": engagement, "kind": "simulation", "lines": GLASSES})
    assert quote.status_code == 201, quote.text
    claimed = [dict(line, amc_claimed=computed["amc"]) for line, computed in zip(GLASSES, quote.json()["lines"],
                                                                                  strict=True)]
    if frame_claim is not None:
        claimed[0]["amc_claimed"] = frame_claim
    invoice = world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": number, "engagement_number": engagement, "date_of_care": day.isoformat(), "lines": claimed})
    assert invoice.status_code == 201, invoice.text
    return quote.json(), invoice.json()


def test_an_operator_manages_a_dated_network_and_care_is_capped_by_its_date(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=80)
    insurer, today = world.headers("assureur.demo"), world.clock.now().date()
    rpps = optician_rpps(world)
    seeded = world.client.get("/v1/networks", headers=insurer)
    assert seeded.status_code == 200 and [n["code"] for n in seeded.json()] == ["optique-synthetique"]
    # The demo optician leaves the seeded network (its frame price 150.00) before our window.
    left = world.client.post("/v1/networks/optique-synthetique/members/end", headers=insurer,
                             json={"rpps": rpps, "valid_to": (today - timedelta(days=30)).isoformat()})
    assert left.status_code == 200 and left.json()["valid_to"] == (today - timedelta(days=30)).isoformat(), left.text

    created = world.client.post("/v1/networks", headers=insurer, json={
        "code": "reseau-test", "name": "Réseau test", "amc_numbers": [AMC]})
    assert created.status_code == 201 and created.json() == {"code": "reseau-test", "name": "Réseau test",
                                                             "amc_numbers": [AMC]}, created.text
    start, end = today - timedelta(days=5), today + timedelta(days=5)
    joined = world.client.post("/v1/networks/reseau-test/members", headers=insurer, json={
        "rpps": rpps, "valid_from": start.isoformat(), "valid_to": end.isoformat()})
    assert joined.status_code == 201 and joined.json()["rpps"] == rpps, joined.text
    capped = world.client.post("/v1/networks/reseau-test/price-caps", headers=insurer, json={
        "code": "9100102", "cap": "6e1", "valid_from": start.isoformat()})
    assert capped.status_code == 201 and capped.json()["cap"] == FRAME_CAP, capped.text
    assert [m["valid_from"] for m in world.client.get("/v1/networks/reseau-test/members", headers=insurer,
                                                      params={"limit": 10}).json()] == [start.isoformat()]
    assert [c["code"] for c in world.client.get("/v1/networks/reseau-test/price-caps", headers=insurer).json()] == [
        "9100102"]

    outside_day, inside_day = today - timedelta(days=10), today
    first, second = beyond_tm_patients(world, 2)
    quote_out, invoice_out = care(world, first, outside_day, f"F-NET-OUT-{world.backend}")
    assert "NETWORK_PRICE_CAP" not in quote_out["lines"][0]["limits"]
    assert invoice_out["status"] == "approved" and invoice_out["findings"] == [], invoice_out
    # The same claim inside the window: the network's price cuts the frame's share.
    quote_in, invoice_in = care(world, second, inside_day, f"F-NET-IN-{world.backend}", quote_out["lines"][0]["amc"])
    assert quote_in["lines"][0]["limits"][0] == "NETWORK_PRICE_CAP"
    assert Decimal(quote_in["lines"][0]["amc"]) < Decimal(quote_out["lines"][0]["amc"])
    assert invoice_in["status"] == "partially_approved", invoice_in
    assert [(f["code"], f["line"]) for f in invoice_in["findings"]] == [("R007", 0)]

    with world.platform.engine.connect() as conn:
        rows = conn.execute(select(t.audit_events.c.tag, t.audit_events.c.entry)
                            .where(t.audit_events.c.tag.like("reference:%")).order_by(t.audit_events.c.seq)).all()
    tags = [r.tag for r in rows]
    # The seeded network serves two insurers: its change is on both insurers' history.
    assert tags == ["reference:network_member:update"] * 2 + [
        "reference:network:create", "reference:network_member:update", "reference:price_cap:update"]
    assert all(rpps not in r.entry for r in rows)


def test_other_insurers_meet_404_and_bad_input_names_its_field(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=30)
    insurer, today = world.headers("assureur.demo"), world.clock.now().date().isoformat()
    assert world.client.post("/v1/networks", headers=insurer, json={
        "code": "reseau-a", "name": "Réseau A", "amc_numbers": [AMC]}).status_code == 201
    username = "assureur3.networks"
    _, secret = world.platform.accounts.create(username, "another-insurer-pass", Role.INSURER_OPERATOR, insurer_id=3)
    world.demo["accounts"][username] = {"password": "another-insurer-pass", "totp_secret": secret}
    world.enrol_passkey(username)
    other = world.headers(username)
    member = {"rpps": optician_rpps(world), "valid_from": today}
    for method, theirs, absent, body in (
            ("get", "/v1/networks/reseau-a", "/v1/networks/absent", None),
            ("get", "/v1/networks/reseau-a/members", "/v1/networks/absent/members", None),
            ("post", "/v1/networks/reseau-a/members", "/v1/networks/absent/members", member),
            ("post", "/v1/networks/reseau-a/price-caps", "/v1/networks/absent/price-caps",
             {"code": "9100102", "cap": "1.00", "valid_from": today})):
        a = world.client.request(method, theirs, headers=other, json=body)
        b = world.client.request(method, absent, headers=other, json=body)
        assert (a.status_code, a.json()) == (b.status_code, b.json()) == (404, b.json()), theirs
    assert world.client.get("/v1/networks", headers=other).json() == []
    taken = world.client.post("/v1/networks", headers=other, json={"code": "reseau-b", "name": "B",
                                                                   "amc_numbers": [AMC]})
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "amc_numbers[0]"
    assert world.client.get("/v1/networks", headers=world.headers("optique.demo")).status_code == 403
    assert world.client.post("/v1/networks/reseau-a/members", headers=world.headers("assureur.demo", passkey=False),
                             json=member).status_code == 403  # changes need a passkey session

    assert world.client.post("/v1/networks/reseau-a/members", headers=insurer, json=member).status_code == 201
    again = world.client.post("/v1/networks/reseau-a/members", headers=insurer, json=member)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "valid_from"
    bad = [
        ("/v1/networks", {"code": "Bad Code", "name": "x", "amc_numbers": [AMC]}, "code"),
        ("/v1/networks", {"code": "reseau-a", "name": "Réseau A", "amc_numbers": [AMC]}, "code"),  # 409
        ("/v1/networks/reseau-a/members", {**member, "rpps": "10000000002"}, "rpps"),
        ("/v1/networks/reseau-a/members", {**member, "valid_to": "2000-01-01"}, "valid_to"),
        ("/v1/networks/reseau-a/members", {**member, "valid_from": "1900-01-01"}, "valid_from"),
        ("/v1/networks/reseau-a/members/end", {"rpps": member["rpps"], "valid_to": "2001-01-01"}, "valid_to"),
        ("/v1/networks/reseau-a/price-caps", {"code": "9100102", "cap": "0.00", "valid_from": today}, "cap"),
        ("/v1/networks/reseau-a/price-caps", {"code": "9100102", "cap": "-0.00", "valid_from": today}, "cap"),
        ("/v1/networks/reseau-a/price-caps", {"code": "9100102", "cap": "1.001", "valid_from": today}, "cap"),
        ("/v1/networks/reseau-a/price-caps", {"code": "9100101", "cap": "10.00", "valid_from": today}, "code"),
        ("/v1/networks/reseau-a/price-caps", {"code": "G", "cap": "10.00", "valid_from": today}, "code"),
        ("/v1/networks/reseau-a/price-caps/end", {"code": "9100102", "valid_to": today}, "valid_to"),
    ]
    for path, body, field in bad:
        answer = world.client.post(path, headers=insurer, json=body)
        assert answer.status_code in (409, 422) and answer.json()["errors"][0]["field"] == field, (path, body, answer.text)
