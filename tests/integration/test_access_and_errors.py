"""Authentication, scope (IDOR), enumeration and bad input over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement
from tierspayant.security import totp

TODAY = "2026-03-02"


def rights(world: World, headers: dict[str, str], **body: str) -> tuple[int, dict[str, object]]:
    response = world.client.post("/v1/rights-checks", headers=headers, json=body)
    return response.status_code, response.json()


def test_rights_answers_are_minimal_and_indistinguishable(world: World) -> None:
    h = world.headers("optique.demo")
    patient = fresh_patients(world)[0]
    base = {**patient, "date_of_care": TODAY, "category": "optical"}
    status, covered = rights(world, h, **base)
    assert status == 200 and set(covered) == {"covered", "engagement_number", "valid_until"}
    assert patient["nir"] not in json.dumps(covered)
    negatives = [
        {**base, "birth_date": "1950-01-01"},  # wrong birth date
        {**base, "member_number": "9999999999"},  # wrong member number
        {**base, "amc_number": "123456789"},  # unknown insurer
        {**base, "nir": "295109912611193"},  # valid NIR nobody holds here
        {**base, "amc_number": "990000029"},  # another insurer of the platform
    ]
    answers = {json.dumps(rights(world, h, **body)) for body in negatives}
    assert answers == {json.dumps((200, {"covered": False, "engagement_number": None, "valid_until": None}))}


def test_other_professionals_and_insurers_get_not_found(world: World) -> None:
    optician, gp = world.headers("optique.demo"), world.headers("medecin.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    quote = world.client.post("/v1/quotes", headers=optician,
                              json={"engagement_number": eng, "kind": "simulation", "lines": GLASSES}).json()
    number = f"F-IDOR-{world.backend}"
    world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": number, "engagement_number": eng, "date_of_care": TODAY,
        "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
    missing = world.client.get("/v1/invoices/NO-SUCH-INVOICE", headers=gp)
    for url in (f"/v1/invoices/{number}", f"/v1/quotes/{quote['number']}"):
        theirs = world.client.get(url, headers=gp)
        assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json()) == (404, missing.json())
        assert world.client.get(url, headers=optician).status_code == 200
    # Using someone else's engagement is the same as an unknown one.
    stolen = world.client.post("/v1/quotes", headers=gp, json={"engagement_number": eng, "kind": "simulation",
                                                              "lines": GLASSES})
    unknown = world.client.post("/v1/quotes", headers=gp, json={"engagement_number": "E-NOPE", "kind": "simulation",
                                                               "lines": GLASSES})
    assert (stolen.status_code, stolen.json()) == (unknown.status_code, unknown.json()) == (404, unknown.json())
    # An insurer operator sees its own insurer only: insurer 2 answers like an unknown insurer.
    insurer = world.headers("assureur.demo")
    other = world.client.get("/v1/insurers/990000029/contracts/RESP-CONFORT", headers=insurer)
    absent = world.client.get("/v1/insurers/999999999/contracts/RESP-CONFORT", headers=insurer)
    assert (other.status_code, other.json()) == (absent.status_code, absent.json())
    assert world.client.get("/v1/insurers/990000011/contracts/RESP-CONFORT", headers=insurer).status_code == 200


def test_roles_are_enforced(world: World) -> None:
    insurer = world.headers("assureur.demo")
    status, _ = rights(world, insurer, **fresh_patients(world)[0], date_of_care=TODAY, category="optical")
    assert status == 403
    optician = world.headers("optique.demo")
    assert world.client.post("/v1/payment-runs", headers=optician, json={}).status_code == 403
    assert world.client.post("/v1/rights-checks", json={}).status_code == 401


def test_authentication_failures_are_opaque(world: World) -> None:
    account = world.demo["accounts"]["optique.demo"]
    world.clock.advance(seconds=31)
    code = totp.current_code(account["totp_secret"], world.clock.now())
    attempts = [
        {"username": "optique.demo", "password": "wrong-password-123", "totp": code},
        {"username": "nobody.here", "password": account["password"], "totp": code},
        {"username": "optique.demo", "password": account["password"], "totp": "000000" if code != "000000" else "111111"},
    ]
    answers = [world.client.post("/v1/sessions", json=body) for body in attempts]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert answers[0].status_code == 401
    ok = world.client.post("/v1/sessions", json={"username": "optique.demo", "password": account["password"], "totp": code})
    assert ok.status_code == 200
    replay = world.client.post("/v1/sessions", json={"username": "optique.demo", "password": account["password"],
                                                     "totp": code})
    assert (replay.status_code, replay.text) == (401, answers[0].text)  # a TOTP code works once


def test_sessions_expire_and_sign_out(world: World) -> None:
    h = world.headers("optique.demo")
    assert world.client.get("/v1/payment-statements", headers=h).status_code == 200
    world.clock.advance(minutes=14)
    assert world.client.get("/v1/payment-statements", headers=h).status_code == 200
    world.clock.advance(minutes=15, seconds=1)
    assert world.client.get("/v1/payment-statements", headers=h).status_code == 401  # idle timeout
    h = world.headers("optique.demo")
    assert world.client.delete("/v1/sessions/current", headers=h).status_code == 204
    assert world.client.get("/v1/payment-statements", headers=h).status_code == 401


BAD_RIGHTS = [
    ({"nir": "295109912611194"}, "nir"),
    ({"amc_number": "12345"}, "amc_number"),
    ({"date_of_care": "2019-01-01"}, "date_of_care"),
    ({"date_of_care": "2026-13-01"}, "date_of_care"),
    ({"category": "dental"}, "category"),
    ({"birth_date": None}, "birth_date"),
    ({"extra": "x"}, "extra"),
]


@pytest.mark.parametrize(("change", "field"), BAD_RIGHTS)
def test_bad_rights_input_names_the_field(world: World, change: dict[str, object], field: str) -> None:
    h = world.headers("optique.demo")
    body = {**world.demo["patients"][0], "date_of_care": TODAY, "category": "optical", **change}
    response = world.client.post("/v1/rights-checks", headers=h, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert "295109912611194" not in response.text  # the bad NIR is not echoed


BAD_LINES = [
    ({"code": "NOPE1", "price": "10.00"}, "lines[0].code"),
    ({"code": "9100102", "price": "-1.00"}, "lines[0].price"),
    ({"code": "9100102", "price": "10.001"}, "lines[0].price"),
    ({"code": "9100102", "price": "1e9"}, "lines[0].price"),
    ({"code": "9100301", "price": "10.00"}, "lines[0].lens_type"),
]


@pytest.mark.parametrize(("line", "field"), BAD_LINES)
def test_bad_quote_lines_name_the_field(world: World, line: dict[str, object], field: str) -> None:
    h = world.headers("optique.demo")
    eng = engagement(world, h, fresh_patients(world)[0])
    response = world.client.post("/v1/quotes", headers=h, json={"engagement_number": eng, "kind": "simulation",
                                                                "lines": [line]})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_malformed_and_oversize_bodies(world: World) -> None:
    h = {**world.headers("optique.demo"), "content-type": "application/json"}
    malformed = world.client.post("/v1/rights-checks", headers=h, content=b'{"nir": ')
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["message"] == "malformed JSON"
    huge = world.client.post("/v1/rights-checks", headers=h, content=b'{"x":"' + b"a" * 100_000 + b'"}')
    assert huge.status_code == 413 and huge.json()["errors"][0]["field"] == "body"


def test_invalid_contract_configuration_names_rule_and_writes_nothing(world: World) -> None:
    admin = world.headers("admin.demo")
    bad = {"code": "BAD-ANI", "name": "x", "type": "collective", "optical": {"class_b_ceilings": {"a": "80.00"}}}
    response = world.client.post("/v1/insurers/990000011/contracts", headers=admin, json=bad)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["code"], error["rule"]) == ("optical.class_b_ceilings.a", "BELOW_ANI_FLOOR", "D911-1 CSS")
    assert world.client.get("/v1/insurers/990000011/contracts/BAD-ANI", headers=admin).status_code == 404
    # Category a at its floor is not enough: D911-1 sets a floor for every category (b refused).
    only_a = world.client.post("/v1/insurers/990000011/contracts", headers=admin, json={
        **bad, "code": "ONLY-A", "optical": {"class_b_ceilings": {"a": "100.00"}}})
    assert only_a.status_code == 422 and only_a.json()["errors"][0]["field"] == "optical.class_b_ceilings.b"
    floors = {"a": "100.00", "b": "150.00", "c": "200.00", "d": "150.00", "e": "200.00", "f": "200.00"}
    good = world.client.post("/v1/insurers/990000011/contracts", headers=admin, json={**bad, "code": "GOOD-ANI",
                             "optical": {"class_b_ceilings": floors}})
    assert good.status_code == 201


def test_beneficiary_registration_checks_identifiers(world: World) -> None:
    insurer = world.headers("assureur.demo")
    body = {"contract_code": "RESP-CONFORT", "member_number": "7777777777", "nir": "255081416802538",
            "birth_date": "1955-08-14", "last_name": "Synthétique", "first_name": "Jeanne", "rights_start": "2026-01-01",
            "categories": ["optical", "pharmacy"]}
    bad = world.client.post("/v1/insurers/990000011/beneficiaries", headers=insurer, json={**body, "nir": "255081416802539"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "nir"
    ok = world.client.post("/v1/insurers/990000011/beneficiaries", headers=insurer, json=body)
    assert ok.status_code == 201
    optician = world.headers("optique.demo")
    status, answer = rights(world, optician, amc_number="990000011", member_number="7777777777", nir=body["nir"],
                            birth_date=body["birth_date"], date_of_care=TODAY, category="optical")
    assert status == 200 and answer["covered"] is True
    status, answer = rights(world, optician, amc_number="990000011", member_number="7777777777", nir=body["nir"],
                            birth_date=body["birth_date"], date_of_care=TODAY, category="consultation")
    assert answer["covered"] is False  # rights are per care category


def test_payment_objects_of_others_answer_like_missing_ones(world: World) -> None:
    from tierspayant.security.policy import Role

    username = f"assureur2.{world.backend}"
    _, secret = world.platform.accounts.create(username, "another-insurer-pass", Role.INSURER_OPERATOR, insurer_id=2)
    world.demo["accounts"][username] = {"password": "another-insurer-pass", "totp_secret": secret}
    optician = world.headers("optique.demo")
    eng = engagement(world, optician, fresh_patients(world)[0])
    world.client.post("/v1/invoices", headers=optician, json={
        "invoice_number": f"F-OTHERS-{world.backend}", "engagement_number": eng, "date_of_care": TODAY,
        "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
    run = world.client.post("/v1/payment-runs", headers=world.headers("assureur.demo"), json={}).json()
    statement = world.client.get("/v1/payment-statements", headers=optician).json()[0]
    other_insurer = world.headers(username, passkey=False)
    other_professional = world.headers("medecin.demo")
    pairs = [
        (f"/v1/payment-runs/{run['id']}", "/v1/payment-runs/999999", other_insurer),
        (f"/v1/payment-runs/{run['id']}/sepa", "/v1/payment-runs/999999/sepa", other_insurer),
        (f"/v1/payment-statements/{statement['id']}", "/v1/payment-statements/999999", other_professional),
    ]
    for theirs, absent, headers in pairs:
        a, b = world.client.get(theirs, headers=headers), world.client.get(absent, headers=headers)
        assert (a.status_code, a.json()) == (b.status_code, b.json()) == (404, b.json()), theirs


def test_other_tenants_objects_on_write_routes_answer_like_missing_ones(world: World) -> None:
    insurer = world.headers("assureur.demo")
    body = {"contract_code": "RESP-CONFORT", "member_number": "5555555555", "nir": "253072B07300470",
            "birth_date": "1953-07-01", "last_name": "Synthétique", "first_name": "Paul", "rights_start": "2026-01-01",
            "categories": ["optical"]}
    other = world.client.post("/v1/insurers/990000029/beneficiaries", headers=insurer, json=body)
    absent = world.client.post("/v1/insurers/999999999/beneficiaries", headers=insurer, json=body)
    assert (other.status_code, other.json()) == (absent.status_code, absent.json()) == (404, absent.json())
    optician = world.headers("optique.demo")
    options = world.client.post("/v1/passkeys/authentication/options").json()
    assertion = world.__dict__["_authenticators"]["optique.demo"].get(options, world.platform.settings.webauthn_origin)
    change = world.client.post("/v1/bank-details/changes", headers=optician, json={
        "iban": "FR7630004000031234567890143", "bic": "BNPAFRPPXXX", "credential": assertion}).json()
    gp = world.headers("medecin.demo")
    theirs = world.client.delete(f"/v1/bank-details/changes/{change['id']}", headers=gp)
    missing = world.client.delete("/v1/bank-details/changes/999999", headers=gp)
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json()) == (404, missing.json())
    assert world.client.delete(f"/v1/bank-details/changes/{change['id']}", headers=optician).status_code == 204


def test_a_nul_character_is_refused_naming_its_field(world: World) -> None:
    """PostgreSQL text cannot hold NUL: the request is refused before any query, on both databases."""
    response = world.client.post("/v1/sessions", json={"username": "\x00", "password": "x" * 12, "totp": "123456"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "username"
    headers = world.headers("optique.demo")
    assert world.client.get("/v1/quotes/P-%00", headers=headers).status_code == 422
