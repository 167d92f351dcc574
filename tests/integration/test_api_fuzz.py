"""Schemathesis over the OpenAPI spec: generated requests, signed in, never get a 5xx, and every
answer is one the document declares -- its status, its content type, its schema, its headers
(api/openapi.py). Bounded (max_examples per operation) so that it fits in `make test`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def _headers_for(path: str, tokens: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/v1/payment-runs") or path in ("/v1/insurers", "/v1/professionals"):
        return tokens["admin"]
    if path.startswith("/v1/insurers"):
        return tokens["insurer"]
    return tokens["professional"]


def test_no_server_error(fuzz_world: World, tokens: dict[str, dict[str, str]]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    tested = 0
    for operation in operations:
        if operation.path in ("/v1/sessions/current", "/v1/passkeys/{passkey_id}"):
            continue  # signing out or revoking would end the sessions this test signs with

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(headers=_headers_for(case.path, tokens), checks=CHECKS)

        run()
        tested += 1
    assert tested == len(operations) - 2
