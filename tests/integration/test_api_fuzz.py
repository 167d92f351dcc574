"""Schemathesis over the OpenAPI spec with every check it has (api/openapi.py): generated
requests, signed in, never get a 5xx; every answer is one the document declares -- its status,
content type, schema, headers, Allow --; a request the schema forbids is refused
(negative data), one it allows is accepted (positive data, below), a missing required header
or an unsupported method is refused, removing or spoiling the token gets 401, and the stateful
checks (use after free, resource availability, object-level authorization) hold. Bounded
(max_examples per operation) so that it fits in `make test`.

Positive data: a schema-valid request may still be refused by a domain rule JSON Schema cannot
state -- a check digit (NIR, RPPS, SIRET), a date relative to today, a rule across fields, an
unknown code --, and only with that rule's 422 (its ``errors[].code``, from domain/errors.py);
the request parser itself (pydantic) never refuses what the document allows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import BACKENDS, World, database_url, make_world


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world of its own: fuzzing revokes passkeys and creates objects at random."""
    var = tmp_path_factory.mktemp("fuzz")
    world = make_world(database_url(request, request.param, var), var, request.param, beneficiaries=100)
    yield world
    world.platform.engine.dispose()


@pytest.fixture(scope="module")
def tokens(fuzz_world: World) -> dict[str, dict[str, str]]:
    return {role: fuzz_world.headers(user) for role, user in
            (("professional", "optique.demo"), ("insurer", "assureur.demo"), ("admin", "admin.demo"))}


def positive_data_accepted_by_the_parser(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, but for a domain rule's 422 (the module's docstring)."""
    if response.status_code == 422:
        errors = response.json().get("errors", [])
        if errors and all("code" in error for error in errors):
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


load_all_checks()
CHECKS = [check for check in REGISTRY.get_all() if check is not positive_data_acceptance]
CHECKS.append(positive_data_accepted_by_the_parser)


def _headers_for(path: str, tokens: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/v1/payment-runs") or path in ("/v1/insurers", "/v1/professionals"):
        return tokens["admin"]
    if path.startswith(("/v1/insurers", "/v1/networks")):
        return tokens["insurer"]
    return tokens["professional"]


def test_no_server_error(fuzz_world: World, tokens: dict[str, dict[str, str]]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)

    @schema.auth()
    class Tokens:
        """The token as schemathesis knows it (so that ignored_auth can take it away); the
        header named as the HTTPBearer scheme names it."""

        def get(self, case: Any, ctx: Any) -> str:
            return _headers_for(case.path, tokens)["authorization"]

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(CHECKS) == len(REGISTRY.get_all_names())  # every check, ours standing for one
    assert len(operations) >= 15
    tested = 0
    for operation in operations:
        if operation.path in ("/v1/sessions/current", "/v1/passkeys/{passkey_id}"):
            continue  # signing out or revoking would end the sessions this test signs with

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        run()
        tested += 1
    assert tested == len(operations) - 2
