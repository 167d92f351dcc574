"""Changing a professional's IBAN (docs/THREATS.md T7): step-up with a fresh passkey assertion, a
delay before it pays, a notice at once, cancellable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement
from tierspayant.security.policy import Principal, Role
from tierspayant.store import tables as t

NEW_IBAN = "FR7630004000031234567890143"


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=60)


def step_up(world: World, username: str) -> dict:
    options = world.client.post("/v1/passkeys/authentication/options").json()
    return world.__dict__["_authenticators"][username].get(options, world.platform.settings.webauthn_origin)


def iban_paid(world: World) -> str:
    run = world.platform.payments.run(Principal(0, 0, Role.INSURER_OPERATOR, insurer_id=1),
                                      execution_date=date(2026, 3, 10))
    return run.run.sepa_xml or ""


def test_iban_change_needs_step_up_waits_and_warns(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    body = {"iban": NEW_IBAN, "bic": "BNPAFRPPXXX"}
    # without a fresh assertion, or with someone else's, nothing changes
    no_assertion = fresh.client.post("/v1/bank-details/changes", headers=headers, json={**body, "credential": {}})
    fresh.headers("medecin.demo")
    others = fresh.client.post("/v1/bank-details/changes", headers=headers,
                               json={**body, "credential": step_up(fresh, "medecin.demo")})
    weak = fresh.client.post("/v1/bank-details/changes", headers=fresh.headers("optique.demo", passkey=False),
                             json={**body, "credential": step_up(fresh, "optique.demo")})
    assert (no_assertion.status_code, others.status_code, weak.status_code) == (401, 401, 403)
    assertion = step_up(fresh, "optique.demo")
    made = fresh.client.post("/v1/bank-details/changes", headers=headers, json={**body, "credential": assertion})
    assert made.status_code == 201, made.text
    change = made.json()
    assert change["iban_last4"] == NEW_IBAN[-4:]
    replay = fresh.client.post("/v1/bank-details/changes", headers=headers, json={**body, "credential": assertion})
    assert replay.status_code == 401  # a step-up assertion works once
    with fresh.platform.engine.connect() as conn:
        professional_id = conn.execute(select(t.accounts.c.professional_id)
                                       .where(t.accounts.c.username == "optique.demo")).scalar_one()
        notices = conn.execute(select(t.notifications.c.text)
                               .where(t.notifications.c.professional_id == professional_id)).scalars().all()
    assert len(notices) == 1 and NEW_IBAN[-4:] in notices[0] and "http" not in notices[0]
    # an invoice to pay: before the delay the old account is paid, after it the new one
    eng = engagement(fresh, headers, fresh_patients(fresh)[0])
    fresh.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": "F-IBAN-1", "engagement_number": eng, "date_of_care": fresh.clock.now().date().isoformat(),
        "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
    assert NEW_IBAN not in iban_paid(fresh)
    fresh.clock.advance(hours=72, seconds=1)
    headers = fresh.headers("optique.demo")
    eng = engagement(fresh, headers, fresh_patients(fresh)[0])
    fresh.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": "F-IBAN-2", "engagement_number": eng, "date_of_care": fresh.clock.now().date().isoformat(),
        "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
    assert NEW_IBAN in iban_paid(fresh)


def test_a_pending_change_can_be_cancelled(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    made = fresh.client.post("/v1/bank-details/changes", headers=headers, json={
        "iban": NEW_IBAN, "bic": "BNPAFRPPXXX", "credential": step_up(fresh, "optique.demo")}).json()
    weak = fresh.headers("optique.demo", passkey=False)  # cancelling only protects: any session
    assert fresh.client.delete(f"/v1/bank-details/changes/{made['id']}", headers=weak).status_code == 204
    fresh.clock.advance(hours=73)
    headers = fresh.headers("optique.demo")
    eng = engagement(fresh, headers, fresh_patients(fresh)[0])
    fresh.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": "F-IBAN-C", "engagement_number": eng, "date_of_care": fresh.clock.now().date().isoformat(),
        "lines": [dict(GLASSES[0], amc_claimed="0.02")]})
    assert NEW_IBAN not in iban_paid(fresh)  # a payment run applies due changes: a cancelled one never
    listed = fresh.client.get("/v1/bank-details/changes", headers=fresh.headers("optique.demo")).json()
    assert listed[0]["cancelled"] is True and listed[0]["applied"] is False
