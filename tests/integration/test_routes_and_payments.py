"""Route inventory, and no invoice ever paid twice under concurrent payment runs."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement
from tierspayant.api.auth import assurance_of, policy_of
from tierspayant.api.openapi import api_routes
from tierspayant.security.policy import Principal, Role
from tierspayant.services.ports import Conflict
from tierspayant.store import tables as t

BENEFICIARY_DATA_ROUTES = {"/v1/rights-checks", "/v1/quotes", "/v1/quotes/{number}", "/v1/invoices",
                           "/v1/invoices/{invoice_number}", "/v1/insurers/{amc_number}/beneficiaries",
                           "/v1/log/events"}


def test_every_route_declares_a_policy(world: World) -> None:
    routes = api_routes(list(world.app.routes))
    assert len(routes) >= 15
    missing, public = [], []
    for route in routes:
        policies = [policy_of(dep.call) for dep in route.dependant.dependencies if policy_of(dep.call)]
        if not policies:
            missing.append(route.path)
        if "public" in policies:
            public.append(route.path)
    assert missing == []
    # Public: health (and readiness: what is writable, no data), sign-in, and the transparency
    # log's checkpoints and proofs (hashes only, RFC 9162) and witness cosignatures (accepted
    # only when signed by a configured witness).
    # And the passkey ceremonies, which are how one signs in.
    assert sorted(public) == ["/v1/health", "/v1/health/ready", "/v1/log/checkpoint", "/v1/log/cosignatures",
                              "/v1/log/proofs/consistency", "/v1/log/proofs/inclusion",
                              "/v1/oidc/callback", "/v1/oidc/start",
                              "/v1/passkeys/authentication", "/v1/passkeys/authentication/options",
                              "/v1/passkeys/registration", "/v1/passkeys/registration/options", "/v1/sessions"]
    for route in routes:
        if route.path in BENEFICIARY_DATA_ROUTES:
            policies = [policy_of(dep.call) for dep in route.dependant.dependencies if policy_of(dep.call)]
            assert "public" not in policies and "authenticated" not in policies, route.path
            # docs/THREATS.md T1: no data route is reachable with a password (+TOTP) session.
            assurances = {assurance_of(dep.call) for dep in route.dependant.dependencies if policy_of(dep.call)}
            assert assurances == {"phishing_resistant"}, route.path


def test_a_password_session_never_reaches_beneficiary_data(world: World) -> None:
    weak = world.headers("optique.demo", passkey=False)
    patient = fresh_patients(world)[0]
    refused = world.client.post("/v1/rights-checks", headers=weak,
                                json={**patient, "date_of_care": "2026-03-02", "category": "optical"})
    assert refused.status_code == 403 and "passkey" in refused.json()["detail"]
    assert world.client.get("/v1/invoices/ANY", headers=weak).status_code == 403
    assert world.client.get("/v1/payment-statements", headers=weak).status_code == 200  # no beneficiary data


def _paid_invoices(world: World, count: int) -> None:
    optician = world.headers("optique.demo")
    for index, patient in enumerate(fresh_patients(world, count=count)):
        eng = engagement(world, optician, patient)
        response = world.client.post("/v1/invoices", headers=optician, json={
            "invoice_number": f"F-CONC-{world.backend}-{index}", "engagement_number": eng,
            "date_of_care": world.clock.now().date().isoformat(), "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
        assert response.json()["status"] == "approved"


def test_concurrent_payment_runs_never_pay_an_invoice_twice(world: World) -> None:
    _paid_invoices(world, 12)
    operator = Principal(0, 0, Role.INSURER_OPERATOR, insurer_id=1)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            world.platform.payments.run(operator, execution_date=date(2026, 3, 3))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A run that found everything taken by the others is not created ("nothing to pay").
    assert all(isinstance(e, Conflict) and e.field == "amc_number" for e in errors) and len(errors) < 4
    with world.platform.engine.connect() as conn:
        # Statements are sealed at rest: opened through the store's protection.
        orders = [(o["statement"], o["amount"]) for o in (
            world.platform.protection.open(conn, "payment_orders", r) for r in conn.execute(select(t.payment_orders)))]
        unpaid = conn.execute(select(t.invoices.c.id).where(
            t.invoices.c.insurer_id == 1, t.invoices.c.status.in_(["approved", "partially_approved"]))).all()
    paid_numbers = Counter(i["invoice_number"] for statement, _ in orders for i in statement["invoices"])
    assert paid_numbers and max(paid_numbers.values()) == 1  # nobody paid twice
    assert unpaid == []  # and nobody forgotten
    for statement, amount in orders:
        assert sum(Decimal(i["amount"]) for i in statement["invoices"]) == amount


IDENTITY_FIELDS = {"nir", "last_name", "first_name", "birth_date", "member_number", "iban", "name"}
#: Response models whose ``name`` names no person: a care network, a delivery destination.
NOT_PEOPLE = {"NetworkOut", "DestinationOut"}


def _identity_fields(model: Any, seen: set[Any] | None = None) -> set[str]:
    """Identity fields a response model can carry, at any depth."""
    import typing

    from pydantic import BaseModel

    seen = seen if seen is not None else set()
    out: set[str] = set()
    for arg in typing.get_args(model) or ():
        out |= _identity_fields(arg, seen)
    if isinstance(model, type) and issubclass(model, BaseModel) and model not in seen and model.__name__ not in NOT_PEOPLE:
        seen.add(model)
        for name, field in model.model_fields.items():
            if name in IDENTITY_FIELDS:
                out.add(name)
            out |= _identity_fields(field.annotation, seen)
    return out


def test_no_route_lists_peoples_identities_and_the_one_bulk_export_is_sealed_and_dual_controlled(world: World) -> None:
    """The AP-HP lesson (issue 14): no route returns a list of people's identities; the only
    bulk export is a controller's breach list, sealed to its key after two officers' approval
    (services/incident_exports.py). A new route that lists identities fails here."""
    import typing

    from pydantic import BaseModel

    class Person(BaseModel):  # what the check must catch, nested or not
        nir: str

    class Page(BaseModel):
        people: list[Person]

    assert _identity_fields(list[Person]) == {"nir"} and _identity_fields(Page) == {"nir"}
    bulk = []
    for route in api_routes(list(world.app.routes)):
        model = route.response_model
        is_list = typing.get_origin(model) in (list, tuple) or (isinstance(model, type) and issubclass(model, list))
        if is_list and _identity_fields(model):
            bulk.append(route.path)
    assert bulk == []
    [export] = [r for r in api_routes(list(world.app.routes)) if r.path.endswith("/exports/{export_id}/file")]
    policies = [policy_of(dep.call) for dep in export.dependant.dependencies if policy_of(dep.call)]
    assert policies and "public" not in policies and "authenticated" not in policies

