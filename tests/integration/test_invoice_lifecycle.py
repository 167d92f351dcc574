"""An invoice's life over HTTP, on SQLite and PostgreSQL: cancelled and replaced invoices are
never both paid, invoices drawn for review wait in the insurer's queue and are paid only once
approved, a rejected one never; a payment run is previewed, and none is created with nothing
to pay."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines
from tierspayant.store import tables as t


def send(world: World, number: str, patient: dict[str, str]) -> dict[str, object]:
    headers = world.headers("optique.demo")
    pec = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": engagement(world, headers, patient), "kind": "pec", "lines": GLASSES}).json()
    assert "number" in pec, pec
    body = {"invoice_number": number, "pec_number": pec["number"],
            "date_of_care": world.clock.now().date().isoformat(), "lines": invoice_lines(GLASSES, pec)}
    sent = world.client.post("/v1/invoices", headers=headers, json=body)
    assert sent.status_code == 201, sent.text
    return {**sent.json(), "body": body}


def test_cancel_replace_review_and_pay(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=80)
    optician, insurer = world.headers("optique.demo"), world.headers("assureur.demo")
    nothing = world.client.post("/v1/payment-runs", headers=insurer, json={})
    assert nothing.status_code == 409 and "nothing to pay" in nothing.json()["detail"]
    patients = fresh_patients(world, count=6)

    send(world, "F-X1", patients[0])
    answer = world.client.post("/v1/invoices/F-X1/cancel", headers=optician)
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert world.client.post("/v1/invoices/F-X1/cancel", headers=optician).status_code == 409
    original = send(world, "F-X2", patients[1])
    body = {**original["body"], "invoice_number": "F-X3"}  # type: ignore[dict-item]
    replaced = world.client.post("/v1/invoices/F-X2/replacement", headers=optician, json=body)
    assert replaced.status_code == 201, replaced.text
    assert world.client.get("/v1/invoices/F-X2", headers=optician).json()["status"] == "replaced"
    assert world.client.post("/v1/invoices/F-X2/replacement", headers=optician,
                             json={**body, "invoice_number": "F-X4"}).status_code == 409

    rules = world.client.put("/v1/insurers/990000011/review-rules", headers=insurer,
                             json={"sampling_rate": "1", "amc_above": None})
    assert rules.status_code == 200 and rules.json()["sampling_rate"] == "1"
    waiting = [send(world, f"F-W{n}", patients[2 + n]) for n in range(3)]
    assert [w["status"] for w in waiting] == ["in_review"] * 3 and waiting[0]["review_reason"] == "V001"
    queue = world.client.get("/v1/invoices", headers=insurer, params={"status": "in_review", "sort": "received"}).json()
    assert [i["invoice_number"] for i in queue["items"]] == ["F-W0", "F-W1", "F-W2"]
    preview = world.client.post("/v1/payment-runs/preview", headers=insurer, json={}).json()
    assert [o["invoice_count"] for o in preview["orders"]] == [1]  # only F-X3: none in review
    ids = [i["id"] for i in queue["items"]]
    approve = world.client.post("/v1/review-decisions", headers=insurer, json={"invoice_id": ids[0], "decision": "D001"})
    reject = world.client.post("/v1/review-decisions", headers=insurer, json={"invoice_id": ids[1], "decision": "D102"})
    assert (approve.status_code, approve.json()["status"]) == (200, "approved")
    assert (reject.status_code, reject.json()["status"], reject.json()["approved_amc"]) == (200, "rejected", "0.00")
    twice = world.client.post("/v1/review-decisions", headers=insurer, json={"invoice_id": ids[1], "decision": "D001"})
    assert twice.status_code == 409
    by_professional = world.client.post("/v1/review-decisions", headers=optician,
                                        json={"invoice_id": ids[2], "decision": "D001"})
    assert by_professional.status_code == 403
    bad = world.client.post("/v1/review-decisions", headers=insurer, json={"invoice_id": ids[2], "decision": "D999"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "decision"

    run = world.client.post("/v1/payment-runs", headers=insurer, json={})
    assert run.status_code == 201, run.text
    statements = world.client.get("/v1/payment-statements", headers=optician).json()
    paid = sorted(i["invoice_number"] for s in statements for i in s["statement"]["invoices"])
    assert paid == ["F-W0", "F-X3"]  # not the cancelled, the replaced, the rejected or the waiting one


def test_an_insurers_operator_reads_an_invoice_in_its_queue_and_its_contracts(world: World) -> None:
    insurer, optician = world.headers("assureur.demo"), world.headers("optique.demo")
    number = f"F-READ-{world.backend}"
    sent = send(world, number, fresh_patients(world)[0])
    listed = world.client.get("/v1/invoices", headers=insurer, params={"limit": 200}).json()["items"]
    invoice_id = next(i["id"] for i in listed if i["invoice_number"] == number)
    with world.platform.engine.connect() as conn:
        reads = conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.entry.like('%"purpose":"insurer: read a received invoice"%'))).scalar_one()
    read = world.client.get(f"/v1/insurers/990000011/invoices/{invoice_id}", headers=insurer)
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["invoice_number"], body["id"], len(body["lines"])) == (number, invoice_id, len(GLASSES))
    assert body["approved_amc"] == sent["approved_amc"]
    with world.platform.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.entry.like('%"purpose":"insurer: read a received invoice"%'))).scalar_one() == reads + 1
    # Another insurer's number, an id nobody has, a professional: the same refusals as everywhere.
    assert world.client.get(f"/v1/insurers/990000029/invoices/{invoice_id}", headers=insurer).status_code == 404
    assert world.client.get("/v1/insurers/990000011/invoices/2000000000", headers=insurer).status_code == 404
    assert world.client.get(f"/v1/insurers/990000011/invoices/{invoice_id}", headers=optician).status_code == 403

    contracts = world.client.get("/v1/insurers/990000011/contracts", headers=insurer)
    assert contracts.status_code == 200
    codes = [c["code"] for c in contracts.json()]
    assert codes == sorted(codes) and "RESP-ESSENTIEL" in codes
    assert world.client.get("/v1/insurers/990000029/contracts", headers=insurer).status_code == 404


def test_a_ten_percent_sampling_rate_holds_about_a_tenth_until_decided(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=800)
    insurer = world.headers("assureur.demo")
    assert world.client.put("/v1/insurers/990000011/review-rules", headers=insurer,
                            json={"sampling_rate": "0.10", "amc_above": None}).status_code == 200
    patients = fresh_patients(world, count=100)
    sent = [send(world, f"F-S{n}", patient) for n, patient in enumerate(patients)]
    waiting = {str(s["invoice_number"]) for s in sent if s["status"] == "in_review"}
    # Binomial(100, 0.1): mean 10, standard deviation 3; 2 to 20 is beyond 2.6 of them.
    assert 2 <= len(waiting) <= 20, len(waiting)
    assert world.client.post("/v1/payment-runs", headers=insurer, json={}).status_code == 201
    optician = world.headers("optique.demo")
    paid = {i["invoice_number"] for s in world.client.get("/v1/payment-statements", headers=optician).json()
            for i in s["statement"]["invoices"]}
    assert paid and not paid & waiting  # none paid before its decision
    queue = world.client.get("/v1/invoices", headers=insurer, params={"status": "in_review", "limit": 200}).json()
    assert {i["invoice_number"] for i in queue["items"]} == waiting
    for item in queue["items"]:
        decided = world.client.post("/v1/review-decisions", headers=insurer, json={"invoice_id": item["id"],
                                                                                   "decision": "D102"})
        assert decided.json()["status"] == "rejected"
    assert world.client.post("/v1/payment-runs", headers=insurer, json={}).status_code == 409  # nothing left to pay
    paid_after = {i["invoice_number"] for s in world.client.get("/v1/payment-statements", headers=optician).json()
                  for i in s["statement"]["invoices"]}
    assert not paid_after & waiting  # a rejected invoice is never paid


def test_care_given_after_midnight_in_france_is_invoiced_that_day(new_world: Callable[..., World]) -> None:
    """At 00:30 in Paris it is still yesterday in UTC: the care given since midnight is today's
    (the drill that found it ran at 00:15 Paris time)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    world = new_world(beneficiaries=40)
    paris = world.clock.now().astimezone(ZoneInfo("Europe/Paris"))
    midnight = datetime.combine(paris.date() + timedelta(days=1), datetime.min.time(), ZoneInfo("Europe/Paris"))
    world.clock.advance(seconds=(midnight - paris).total_seconds() + 30 * 60)  # 00:30 in Paris
    assert world.clock.now().date() < world.clock.now().astimezone(ZoneInfo("Europe/Paris")).date()
    headers = world.headers("optique.demo")
    patient = fresh_patients(world)[0]
    pec = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": engagement(world, headers, patient), "kind": "pec", "lines": GLASSES}).json()
    today_in_france = world.clock.now().astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    sent = world.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": "F-MIDNIGHT", "pec_number": pec["number"], "date_of_care": today_in_france,
        "lines": invoice_lines(GLASSES, pec)})
    assert sent.status_code == 201, sent.text
