"""Schemathesis over the OpenAPI spec with every check it has (api/openapi.py), each operation
tried with its role's token, with requests the document allows and with requests it forbids:
no 5xx; every answer is one the document declares (status, content type, schema, headers,
Allow); a forbidden request is refused, an allowed one accepted (positive data, below); a
missing required header or an unsupported method is refused; removing or spoiling the token
gets 401; and every operation is reached past authorisation at least once (or is listed in
BEYOND_THE_FUZZER with why). The stateful checks (use after free, resource availability,
object-level authorization) are passed to every call but only judge a stateful run's chains of
requests, which this test does not make: tests/integration/test_access_and_errors.py walks
object scope by hand. Bounded (max_examples per operation) so that it fits in `make test`.

Positive data: a schema-valid request may still be refused by a domain rule JSON Schema cannot
state -- a check digit (NIR, RPPS, SIRET), a date relative to today, a rule across fields, an
unknown code --, and only with that rule's 422 (its ``errors[].code``, from domain/errors.py);
the request parser itself (pydantic) never refuses what the document allows. Negative data: a
413 is a refusal too (a list beyond its maxItems is beyond the body limit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

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
            (("professional", "optique.demo"), ("insurer", "assureur.demo"), ("admin", "admin.demo"),
             ("officer", "securite.demo"))}


def positive_data_accepted_by_the_parser(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, but for a domain rule's 422 (the module's docstring)."""
    if response.status_code == 422:
        errors = response.json().get("errors", [])
        if errors and all("code" in error for error in errors):
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


def negative_data_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """negative_data_rejection, counting a 413 as the refusal it is (a list beyond its
    maxItems is also beyond the body limit, api/app.py BodyLimit)."""
    if response.status_code == 413:
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


load_all_checks()
OURS = {positive_data_acceptance: positive_data_accepted_by_the_parser, negative_data_rejection: negative_data_refused}
CHECKS = [OURS.get(check, check) for check in REGISTRY.get_all()]


def role_for(path: str) -> str:
    """Whose token each operation is tried with: one whose role may use it."""
    if path.startswith(("/v1/payment-runs", "/v1/organisations", "/v1/accounts", "/v1/passkeys/enrolment-codes",
                        "/v1/delivery")) or path in (
            "/v1/insurers", "/v1/professionals"):
        return "admin"
    if path.startswith(("/v1/security", "/v1/incidents", "/v1/log/events")):
        return "officer"
    if path.startswith(("/v1/insurers", "/v1/networks", "/v1/review-decisions")):
        return "insurer"
    return "professional"


#: Operations no generated request gets past authorisation with: each needs a fresh proof of
#: something the fuzzer cannot make (a passkey's assertion, a WebAuthn or OIDC ceremony, a
#: second officer) -- their refusals are still checked against the document.
SIGNS_OUT = {"/v1/sessions/current", "/v1/sessions/{session_id}", "/v1/passkeys/{passkey_id}", "/v1/sessions/end-all"}
BEYOND_THE_FUZZER = {"/v1/bank-details/changes", "/v1/passkeys/registration", "/v1/oidc/callback"}


def test_no_server_error(fuzz_world: World, tokens: dict[str, dict[str, str]]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)

    @schema.auth(cache_by_key=lambda case, ctx: role_for(case.path))
    class Tokens:
        """The token as schemathesis knows it (so that ignored_auth can take it away), cached
        per role (one cache for all would hand every operation the first token fetched); the
        header named as the HTTPBearer scheme names it."""

        def get(self, case: Any, ctx: Any) -> str:
            return tokens[role_for(case.path)]["authorization"]

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(CHECKS) == len(REGISTRY.get_all_names())  # every check, ours standing for two
    assert len(operations) >= 15
    tested = 0
    reached: dict[str, int] = {}
    for operation in operations:
        if operation.path in SIGNS_OUT:
            continue  # signing out or revoking would end the sessions this test signs with
        # Requests the document allows, then requests it forbids (negative_data_rejection).
        for mode, examples in ((GenerationMode.POSITIVE, 14), (GenerationMode.NEGATIVE, 8)):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: Any) -> None:
                response = case.call_and_validate(checks=CHECKS)
                if response.status_code not in (401, 403):
                    reached[case.operation.label] = reached.get(case.operation.label, 0) + 1

            try:
                run()
            except Unsatisfiable:  # nothing in it to make invalid (no parameter, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
        tested += 1
    assert tested == len(operations) - len(SIGNS_OUT)
    # Each operation was really exercised past authorisation, by its role's token.
    unreached = sorted(op.label for op in operations if op.label not in reached and op.path not in BEYOND_THE_FUZZER
                       and op.path not in SIGNS_OUT)
    assert unreached == [], "\n".join(unreached)
