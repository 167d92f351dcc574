"""The API contract tells the truth, on SQLite and PostgreSQL: every operation declares the
statuses it can answer with the problem schema it really sends, the documentation is served
from the platform itself (no CDN), amounts have one spelling, a control character in a name is
refused with the field named. (test_api_fuzz.py checks every answer against the document.)"""

from __future__ import annotations

import re

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import engagement


def test_every_operation_declares_its_errors_as_problems(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"429", "503"} <= set(responses), (method, path)
            if path not in ("/v1/health", "/v1/health/ready", "/v1/sessions") and not path.startswith((
                    "/v1/oidc", "/v1/passkeys/auth", "/v1/passkeys/reg", "/v1/log")):
                assert {"401", "403"} <= set(responses), (method, path)
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), (method, path)
            for code, answer in responses.items():
                if int(code) >= 400:
                    assert answer["content"] == {"application/problem+json": {"schema": problem}}, (method, path, code)
    assert doc["paths"]["/v1/invoices/{invoice_number}/cancel"]["post"]["responses"]["409"]


def test_the_documentation_works_offline(world: World) -> None:
    for page in ("/docs", "/redoc"):
        html = world.client.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assert not re.findall(r"https?://", html.text), page  # nothing fetched from elsewhere
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html.text):
            assert world.client.get(asset).status_code == 200, asset


def test_amounts_have_one_spelling_and_names_no_control_character(world: World) -> None:
    headers = world.headers("optique.demo")
    number = engagement(world, headers, fresh_patients(world)[0])
    ok = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": number, "kind": "simulation", "lines": [{"code": "9100102", "price": "1e2"}]})
    assert ok.status_code == 201, ok.text
    assert ok.json()["lines"][0]["price"] == "100.00"
    negative_zero = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": number, "kind": "simulation", "lines": [{"code": "9100102", "price": "-0.00"}]})
    assert negative_zero.status_code == 422 and negative_zero.json()["errors"][0]["field"] == "lines[0].price"
    control = world.client.post("/v1/organisations", headers=world.headers("admin.demo"), json={
        "kind": "FINESS", "identifier": "750400001", "name": "Optique\x07Bell", "admin_username": "gerant.bell"})
    assert control.status_code == 422 and control.json()["errors"][0]["field"] == "name"
