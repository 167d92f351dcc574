"""Issue 17 over HTTP, on SQLite and PostgreSQL: the rules an optician and a doctor meet every
day reach the API. A cardiologist registered with a sector and a speciality bills CS and MCS; a
child's lenses are renewed early on an ophthalmologist's prescription while the frame keeps its
period, and the invoice for the lenses alone restarts the lenses' period only; every new input
refused with a 422 naming its field."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from stdnum import luhn

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import engagement, invoice_lines
from tierspayant.domain.identifiers import rpps_with_key
from tierspayant.domain.renewal import LastPurchases

IBAN, BIC = "FR7630006000011234567890189", "AGRIFRPPXXX"
CHANGE = {  # right eye -1.50 -> -2.00: 0.50 D on one lens (LPP)
    "previous": {"issued_on": "2025-03-02", "prescriber": "ophthalmologist",
                 "right": {"sphere": "-1.50"}, "left": {"sphere": "-1.25"}},
    "current": {"issued_on": "2026-02-20", "prescriber": "ophthalmologist",
                "right": {"sphere": "-2.00"}, "left": {"sphere": "-1.25"}},
}
CHILD_GLASSES = [
    {"code": "9100112", "price": "60.00"},
    {"code": "9100311", "price": "50.00", "lens_type": "unifocal", "sph": "-2.00"},
    {"code": "9100311", "price": "50.00", "lens_type": "progressive", "sph": "-1.25"},
]


def _field(response: Any) -> tuple[int, str, str | None]:
    error = response.json()["errors"][0]
    return response.status_code, error["field"], error.get("code")


def _finess(world: World, n: int) -> str:
    body = f"7502{n:03d}{0 if world.backend == 'sqlite' else 5}"
    return body + luhn.calc_check_digit(body)


def _specialist_account(world: World) -> dict[str, str]:
    operator = world.headers("admin.demo")
    org, admin, doctor = _finess(world, 11), f"cabinet.{world.backend}", f"cardio.{world.backend}"
    registered = world.client.post("/v1/organisations", headers=operator, json={
        "kind": "FINESS", "identifier": org, "name": "Cabinet de cardiologie", "admin_username": admin})
    assert registered.status_code == 201, registered.text
    world.enrol_passkey(admin, registered.json()["enrolment_code"])
    rpps = rpps_with_key("1000000200" if world.backend == "sqlite" else "1000000201")
    base = {"rpps": rpps, "am_number": "751234568", "profession": "specialist", "name": "Docteur Cœur",
            "iban": IBAN, "bic": BIC}
    url = f"/v1/organisations/{org}/accounts"
    # A specialist without a speciality, or with OPTAM in sector 1, is refused, naming the field.
    for professional, field in (({**base, "sector": "1"}, "speciality"),
                                ({**base, "speciality": "cardiology"}, "sector"),
                                ({**base, "sector": "1", "optam": True, "speciality": "cardiology"}, "optam")):
        refused = world.client.post(url, headers=world.headers(admin), json={
            "username": doctor, "role": "professional", "professional": professional})
        assert _field(refused)[:2] == (422, field), refused.text
    created = world.client.post(url, headers=world.headers(admin), json={
        "username": doctor, "role": "professional",
        "professional": {**base, "sector": "1", "speciality": "cardiology"}})
    assert created.status_code == 201, created.text
    world.enrol_passkey(doctor, created.json()["enrolment_code"])
    return world.headers(doctor)


def test_a_cardiologist_bills_cs_and_the_coordination_majoration(world: World) -> None:
    doctor = _specialist_account(world)
    number = engagement(world, doctor, fresh_patients(world)[0], "consultation")
    lines = [{"code": "CS", "price": "26.50"}, {"code": "MCS", "price": "5.00"}]
    quote = world.client.post("/v1/quotes", headers=doctor, json={
        "engagement_number": number, "kind": "simulation", "lines": lines, "facts": {"pf_count_this_year": 3}})
    assert quote.status_code == 201, quote.text
    # Worked in tests/vectors/rules_calculation.json C-08: the majoration bears no PF.
    assert [(x["amo"], x["amc"], x["patient"]) for x in quote.json()["lines"]] == [
        ("16.55", "7.95", "2.00"), ("3.50", "1.50", "0.00")]
    out = world.client.post("/v1/quotes", headers=doctor, json={
        "engagement_number": number, "kind": "simulation", "lines": lines, "facts": {"pathway": "out_of_pathway"}})
    assert _field(out) == (422, "lines[1].code", "ACT_REQUIRES_COORDINATED_PATHWAY")
    assert out.json()["errors"][0]["rule"]
    psychiatry = world.client.post("/v1/quotes", headers=doctor, json={
        "engagement_number": number, "kind": "simulation", "lines": [{"code": "CNPSY", "price": "52.00"}]})
    assert _field(psychiatry) == (422, "lines[0].code", "ACT_NOT_OF_THIS_SPECIALITY")
    general = world.client.post("/v1/quotes", headers=doctor, json={
        "engagement_number": number, "kind": "simulation", "lines": [{"code": "G", "price": "30.00"}]})
    assert _field(general) == (422, "lines[0].code", "ACT_NOT_OF_THIS_SPECIALITY")
    # The daily PF limit the AMO tells: the 4th already charged today, none on this one.
    fifth = world.client.post("/v1/quotes", headers=doctor, json={
        "engagement_number": number, "kind": "simulation", "lines": lines[:1],
        "facts": {"pf_today_with_professional": 4}})
    assert fifth.status_code == 201 and fifth.json()["lines"][0]["amo"] == "18.55"


def _child(world: World, n: int = 0) -> dict[str, str]:
    order = 123 + 2 * n + (0 if world.backend == "sqlite" else 1)
    body = int(f"1160575056{order}")
    nir = f"{body}{97 - body % 97:02d}"
    patient = {"amc_number": "990000011", "member_number": f"88800{order}", "nir": nir, "birth_date": "2016-05-14"}
    registered = world.client.post("/v1/insurers/990000011/beneficiaries", headers=world.headers("assureur.demo"),
                                   json={**{k: v for k, v in patient.items() if k != "amc_number"},
                                         "contract_code": "RESP-CONFORT", "last_name": "Synthétique",
                                         "first_name": "Léo", "rights_start": "2026-01-01", "categories": ["optical"]})
    assert registered.status_code == 201, registered.text
    patient["beneficiary_id"] = str(registered.json()["id"])
    return patient


def test_a_childs_lenses_renewed_early_the_frame_keeps_its_period(world: World) -> None:
    optician = world.headers("optique.demo")
    child = _child(world)
    beneficiary_id = int(child.pop("beneficiary_id"))
    number = engagement(world, optician, child)
    declared = {"frame": "2025-09-01", "lenses": "2025-09-01"}  # bought elsewhere, 6 months ago

    def quote(kind: str, lines: list[dict[str, Any]], facts: dict[str, Any]) -> Any:
        return world.client.post("/v1/quotes", headers=optician, json={
            "engagement_number": number, "kind": kind, "lines": lines, "facts": facts})

    # Each missing piece of an early renewal is a 422 naming it.
    assert _field(quote("simulation", CHILD_GLASSES, {"early_renewal": "sight_change"}))[:2] == (
        422, "facts.prescriptions")
    assert _field(quote("simulation", CHILD_GLASSES, {"early_renewal": "sight_change",
                                                      "prescriptions": {"current": CHANGE["current"]}}))[:2] == (
        422, "facts.prescriptions.previous")
    assert _field(quote("simulation", CHILD_GLASSES, {"medical_condition": "glaucoma"}))[:2] == (
        422, "facts.medical_condition")
    assert _field(quote("simulation", CHILD_GLASSES, {"franchise_paid_this_year": "50.01"}))[:2] == (
        422, "facts.franchise_paid_this_year")
    assert _field(quote("simulation", [{"code": "9100111", "price": "30.01"}], {})) == (
        422, "lines[0].price", "CLASS_A_ABOVE_PLV")

    # A change below the LPP thresholds: the 1-year period stands for everything.
    small = {"previous": CHANGE["previous"], "current": {**CHANGE["current"], "right": {"sphere": "-1.75"}}}
    below = quote("simulation", CHILD_GLASSES, {"early_renewal": "sight_change", "prescriptions": small,
                                                "declared_last_delivery": declared})
    assert below.status_code == 201, below.text
    assert all("SIGHT_CHANGE_BELOW_LPP_THRESHOLD" in line["limits"] for line in below.json()["lines"])

    # An ophthalmologist's documented change: the lenses at once, the frame refused (LPP, under 16).
    pec = quote("pec", CHILD_GLASSES, {"early_renewal": "sight_change", "prescriptions": CHANGE,
                                       "declared_last_delivery": declared})
    assert pec.status_code == 201, pec.text
    body = pec.json()
    assert body["binding"] is True
    assert body["lines"][0]["limits"] == ["RENEWAL_PERIOD_NOT_ELAPSED"] and body["lines"][0]["amc"] == "0.00"
    assert all(line["patient"] == "0.00" for line in body["lines"][1:])
    assert (body["frame_eligible_from"], body["lenses_eligible_from"]) == ("2026-09-01", None)

    # The invoice for the lenses alone: its period restarts, not the frame's.
    lenses = CHILD_GLASSES[1:]
    lenses_pec = quote("pec", lenses, {"early_renewal": "sight_change", "prescriptions": CHANGE,
                                       "declared_last_delivery": declared}).json()
    today = world.clock.now().date()
    sent = world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": f"F-LENSES-{world.backend}", "pec_number": lenses_pec["number"],
        "date_of_care": today.isoformat(), "lines": invoice_lines(lenses, lenses_pec),
        "facts": {"early_renewal": "sight_change", "prescriptions": CHANGE, "declared_last_delivery": declared}})
    assert sent.status_code == 201 and sent.json()["status"] == "approved", sent.text
    with world.platform.uow(readonly=True) as tx:
        recorded = tx.beneficiaries.last_optical_purchases(beneficiary_id, today)
    assert recorded == LastPurchases(None, today)
    again = quote("simulation", lenses, {"declared_last_delivery": declared}).json()
    assert again["lenses_eligible_from"] == date(today.year + 1, today.month, today.day).isoformat()
    # The same prescription again: it shows no change since the lenses it paid for (else a
    # child's lenses would be paid again on every visit).
    repeat = quote("pec", lenses, {"early_renewal": "sight_change", "prescriptions": CHANGE})
    assert repeat.status_code == 201, repeat.text
    repeat = repeat.json()
    assert repeat["binding"] is False and repeat["amc"] == "0.00"
    assert all("PRESCRIPTION_NOT_AFTER_LAST_DELIVERY" in line["limits"] for line in repeat["lines"])


def test_facts_that_cannot_be_known_on_the_day_of_care_are_refused(world: World) -> None:
    optician = world.headers("optique.demo")
    child = _child(world, 1)
    child.pop("beneficiary_id")
    number = engagement(world, optician, child)
    tomorrow = (world.clock.now().date() + timedelta(days=1)).isoformat()

    def refused(facts: dict[str, Any]) -> tuple[int, str, str | None]:
        return _field(world.client.post("/v1/quotes", headers=optician, json={
            "engagement_number": number, "kind": "simulation", "lines": CHILD_GLASSES, "facts": facts}))

    later = {"previous": CHANGE["previous"], "current": {**CHANGE["current"], "issued_on": tomorrow}}
    assert refused({"early_renewal": "sight_change", "prescriptions": later})[:2] == (
        422, "facts.prescriptions.current.issued_on")
    assert refused({"declared_last_delivery": {"frame": tomorrow}})[:2] == (422, "facts.declared_last_delivery.frame")
    no_axis = {"previous": CHANGE["previous"],
               "current": {**CHANGE["current"], "right": {"sphere": "-2.00", "cylinder": "-0.75"}}}
    assert refused({"early_renewal": "sight_change", "prescriptions": no_axis})[:2] == (
        422, "facts.prescriptions.current.right.axis")


def test_a_consultation_is_billed_by_a_doctor(world: World) -> None:
    optician = world.headers("optique.demo")
    number = engagement(world, optician, fresh_patients(world)[0], "consultation")
    answer = world.client.post("/v1/quotes", headers=optician, json={
        "engagement_number": number, "kind": "simulation", "lines": [{"code": "G", "price": "30.00"}]})
    assert _field(answer) == (422, "lines[0].code", "ACT_BILLED_BY_A_DOCTOR")


def test_a_doctor_is_registered_with_a_sector(world: World) -> None:
    operator = world.headers("admin.demo")
    base = {"organisation_kind": "FINESS", "organisation_identifier": _finess(world, 12),
            "organisation_name": "Cabinet", "rpps": rpps_with_key("1000000300" if world.backend == "sqlite" else "1000000301"),
            "am_number": "751234569", "name": "Docteur Test", "iban": IBAN, "bic": BIC}
    for extra, field in (({"profession": "general_practitioner"}, "sector"),
                         ({"profession": "optician", "sector": "1"}, "sector"),
                         ({"profession": "general_practitioner", "sector": "1", "speciality": "cardiology"}, "speciality"),
                         ({"profession": "general_practitioner", "sector": "3"}, "sector")):
        refused = world.client.post("/v1/professionals", headers=operator, json={**base, **extra})
        assert refused.status_code == 422 and field in refused.json()["errors"][0]["field"], refused.text
    created = world.client.post("/v1/professionals", headers=operator, json={
        **base, "profession": "general_practitioner", "sector": "2", "optam": True})
    assert created.status_code == 201, created.text
    with world.platform.uow(readonly=True) as tx:
        doctor = tx.professionals.professional(created.json()["id"])
    assert doctor is not None and (doctor.sector, doctor.optam, doctor.speciality) == ("2", True, "general_medicine")


def test_the_document_gives_examples_of_the_facts_that_the_api_takes(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    facts = schemas["QuoteRequest"]["properties"]["facts"]
    assert len(facts["examples"]) >= 2
    described = schemas["CareFactsIn"]["properties"]
    assert {"early_renewal", "prescriptions", "declared_last_delivery", "exemption", "pf_count_this_year",
            "pf_today_with_professional", "franchise_paid_this_year"} <= set(described)
    assert all(described[name].get("description") for name in ("early_renewal", "exemption", "pf_count_this_year"))
    optician = world.headers("optique.demo")
    for example in facts["examples"]:
        number = engagement(world, optician, fresh_patients(world)[0])
        answer = world.client.post("/v1/quotes", headers=optician, json={
            "engagement_number": number, "kind": "simulation", "facts": example,
            "lines": [{"code": "9100301", "price": "90.00", "lens_type": "progressive", "sph": "-2.00"}]})
        assert answer.status_code == 201, answer.text
