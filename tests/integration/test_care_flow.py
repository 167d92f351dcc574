"""The professional's whole flow over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from tests.conftest import World, fresh_patients

TODAY = "2026-03-02"
GLASSES = [
    {"code": "9100102", "price": "120.00"},
    {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-2.00"},
    {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-2.25", "cyl": "-0.50"},
]


def engagement(world: World, headers: dict[str, str], patient: dict[str, str], category: str = "optical") -> str:
    response = world.client.post("/v1/rights-checks", headers=headers,
                                 json={**patient, "date_of_care": world.clock.now().date().isoformat(), "category": category})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["covered"] is True
    return str(body["engagement_number"])


def invoice_lines(lines: list[dict[str, Any]], quote: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(line, amc_claimed=computed["amc"]) for line, computed in zip(lines, quote["lines"], strict=True)]


def test_rights_pec_invoice_payment_statement(world: World) -> None:
    optician = world.headers("optique.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    pec = world.client.post("/v1/quotes", headers=optician, json={"engagement_number": eng, "kind": "pec", "lines": GLASSES})
    assert pec.status_code == 201, pec.text
    quote = pec.json()
    assert quote["binding"] is True and quote["valid_until"]
    for line in quote["lines"]:
        assert Decimal(line["amo"]) + Decimal(line["amc"]) + Decimal(line["patient"]) == Decimal(line["price"])
    assert quote["equipment_category"] == "a"

    number = f"F-FLOW-{world.backend}"
    sent = world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": number, "pec_number": quote["number"], "date_of_care": world.clock.now().date().isoformat(),
        "lines": invoice_lines(GLASSES, quote)})
    assert sent.status_code == 201, sent.text
    invoice = sent.json()
    assert invoice["status"] == "approved" and invoice["approved_amc"] == quote["amc"]

    insurer = world.headers("assureur.demo")
    run = world.client.post("/v1/payment-runs", headers=insurer, json={})
    assert run.status_code == 201, run.text
    assert Decimal(run.json()["total"]) >= Decimal(quote["amc"])
    sepa = world.client.get(f"/v1/payment-runs/{run.json()['id']}/sepa", headers=insurer)
    assert sepa.status_code == 200 and sepa.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(sepa.text)  # noqa: S314 (our own output)
    assert root.tag.endswith("Document") and "pain.001.001.03" in root.tag
    assert str(run.json()["total"]) in sepa.text

    statements = world.client.get("/v1/payment-statements", headers=optician).json()
    paid = [s for s in statements if any(i["invoice_number"] == number for i in s["statement"]["invoices"])]
    assert len(paid) == 1
    assert world.client.get(f"/v1/invoices/{number}", headers=optician).json()["paid"] is True
    # A second run pays nothing more for this invoice (and is not created when nothing is left).
    again = world.client.post("/v1/payment-runs", headers=insurer, json={})
    assert again.status_code in (201, 409), again.text
    if again.status_code == 201:
        assert all(o["end_to_end_id"] != paid[0]["end_to_end_id"] for o in again.json()["orders"])
    else:
        assert world.client.post("/v1/payment-runs/preview", headers=insurer, json={}).json()["orders"] == []


def test_invoice_is_idempotent_and_numbers_are_not_reused(world: World) -> None:
    optician = world.headers("optique.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    body = {"invoice_number": f"F-IDEM-{world.backend}", "engagement_number": eng, "date_of_care": TODAY,
            "lines": [dict(GLASSES[0], amc_claimed="50.00")]}
    first = world.client.post("/v1/invoices", headers=optician, json=body)
    second = world.client.post("/v1/invoices", headers=optician, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    other = world.client.post("/v1/invoices", headers=optician, json={**body, "lines": [dict(GLASSES[0], amc_claimed="60.00")]})
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "invoice_number"


def test_duplicate_care_under_another_number_is_rejected(world: World) -> None:
    optician = world.headers("optique.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    # A frame alone has no equipment category: the contract pays the TM (0.05 - 0.03 = 0.02).
    body = {"engagement_number": eng, "date_of_care": TODAY, "lines": [dict(GLASSES[0], amc_claimed="0.02")]}
    first = world.client.post("/v1/invoices", headers=optician, json={**body, "invoice_number": f"F-DUP1-{world.backend}"})
    second = world.client.post("/v1/invoices", headers=optician, json={**body, "invoice_number": f"F-DUP2-{world.backend}"})
    assert first.json()["status"] == "approved"
    assert second.json()["status"] == "rejected"
    assert "R005" in {f["code"] for f in second.json()["findings"]}


def test_claim_above_pec_is_partially_approved(world: World) -> None:
    optician = world.headers("optique.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    quote = world.client.post("/v1/quotes", headers=optician,
                              json={"engagement_number": eng, "kind": "pec", "lines": GLASSES}).json()
    lines = invoice_lines(GLASSES, quote)
    lines[0]["amc_claimed"] = str(Decimal(lines[0]["amc_claimed"]) + Decimal("30.00"))
    sent = world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": f"F-PEC-{world.backend}", "pec_number": quote["number"], "date_of_care": TODAY, "lines": lines})
    body = sent.json()
    assert body["status"] == "partially_approved"
    assert body["approved_amc"] == quote["amc"]
    assert body["lines"][0]["reasons"]  # the rule that limited the line is named


def test_renewal_period_is_enforced_after_a_paid_equipment(world: World) -> None:
    optician = world.headers("optique.demo")
    patient = fresh_patients(world)[0]
    eng = engagement(world, optician, patient)
    quote = world.client.post("/v1/quotes", headers=optician,
                              json={"engagement_number": eng, "kind": "pec", "lines": GLASSES}).json()
    world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": f"F-REN1-{world.backend}", "pec_number": quote["number"], "date_of_care": TODAY,
        "lines": invoice_lines(GLASSES, quote)})
    world.clock.advance(days=1)
    optician = world.headers("optique.demo")  # the old session idled out (15 min)
    eng2 = engagement(world, optician, patient)
    second = world.client.post("/v1/quotes", headers=optician,
                               json={"engagement_number": eng2, "kind": "pec", "lines": GLASSES}).json()
    assert second["binding"] is False
    assert second["amc"] == "0.00" and second["renewal_eligible_from"] == TODAY.replace("2026", "2028")
    assert all("RENEWAL_PERIOD_NOT_ELAPSED" in line["limits"] for line in second["lines"])


def test_consultation_and_pharmacy(world: World) -> None:
    gp = world.headers("medecin.demo")
    eng = engagement(world, gp, fresh_patients(world)[0], "consultation")
    quote = world.client.post("/v1/quotes", headers=gp, json={
        "engagement_number": eng, "kind": "simulation", "lines": [{"code": "G", "price": "30.00"}]}).json()
    assert (quote["amo"], quote["amc"], quote["patient"]) == ("19.00", "9.00", "2.00")  # MED-10 on the demo contracts
    pec = world.client.post("/v1/quotes", headers=gp, json={
        "engagement_number": eng, "kind": "pec", "lines": [{"code": "G", "price": "30.00"}]})
    assert pec.status_code == 422 and pec.json()["errors"][0]["field"] == "kind"
    optical_code = world.client.post("/v1/quotes", headers=gp, json={
        "engagement_number": eng, "kind": "simulation", "lines": [{"code": "9100102", "price": "30.00"}]})
    assert optical_code.status_code == 422 and optical_code.json()["errors"][0]["field"] == "lines[0].code"
