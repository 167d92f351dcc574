"""Key rotation without downtime and crypto-shredding (THREATS.md T5)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines
from tierspayant.store import tables as t
from tierspayant.store.protection import PLATFORM

TIERS = Path(sys.executable).parent / "tiers"


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=120)


def covered(world: World, headers: dict[str, str], patient: dict[str, str]) -> bool:
    response = world.client.post("/v1/rights-checks", headers=headers,
                                 json={**patient, "date_of_care": "2026-03-02", "category": "optical"})
    assert response.status_code == 200, response.text
    return bool(response.json()["covered"])


def versions(world: World, insurer_id: int) -> set[int]:
    """Key versions used by the insurer's sealed rows, in every protected table."""
    with world.platform.engine.connect() as conn:
        return world.platform.protection.versions_in_use(conn, insurer_id)


def test_rotation_reencrypts_in_batches_while_serving(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    patients = fresh_patients(fresh, count=4)
    eng = engagement(fresh, headers, patients[3])
    quote = fresh.client.post("/v1/quotes", headers=headers, json={"engagement_number": eng, "kind": "pec",
                                                                   "lines": GLASSES}).json()
    protection = fresh.platform.protection
    assert versions(fresh, 1) == {1}
    with fresh.platform.engine.begin() as conn:
        assert protection.rotate(conn, 1) == 2
    assert covered(fresh, headers, patients[0])  # old rows still read during the rotation
    for _ in protection.reencrypt_all(fresh.platform.engine, 1, 10):
        assert covered(fresh, headers, patients[1])  # and between batches
    assert versions(fresh, 1) == {2}
    with fresh.platform.engine.begin() as conn:
        assert protection.retire_old(conn, 1) == [1]
    assert covered(fresh, headers, patients[2])
    with fresh.platform.engine.connect() as conn:
        assert conn.execute(select(t.data_keys.c.version).where(t.data_keys.c.insurer_id == 1)).scalars().all() == [2]
    # The quote sealed before the rotation reads back the same after it (re-encrypted, not lost).
    again = fresh.client.get(f"/v1/quotes/{quote['number']}", headers=headers)
    assert again.status_code == 200 and again.json() == quote


def test_shredding_one_insurer_leaves_the_others(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    insurer_1, invoiced = fresh_patients(fresh, insurer_id=1, count=2)
    insurer_2 = fresh_patients(fresh, insurer_id=2)[0]
    eng = engagement(fresh, headers, invoiced)
    quote = fresh.client.post("/v1/quotes", headers=headers, json={"engagement_number": eng, "kind": "pec",
                                                                   "lines": GLASSES}).json()
    assert fresh.client.get(f"/v1/quotes/{quote['number']}", headers=headers).status_code == 200
    env = {"TIERS_DATABASE_URL": str(fresh.platform.engine.url), "TIERS_VAR_DIR": str(fresh.platform.settings.var_dir),
           "PATH": str(TIERS.parent)}
    refused = subprocess.run([str(TIERS), "keys", "shred", "--insurer", "990000011"], env=env, capture_output=True)
    assert refused.returncode == 2  # needs --yes
    done = subprocess.run([str(TIERS), "keys", "shred", "--insurer", "990000011", "--yes"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fresh.platform.protection._synced.clear()  # this test's process syncs at once (servers: within 30 s)
    assert covered(fresh, headers, insurer_1) is False  # unreadable: nobody to find, no error
    assert covered(fresh, headers, insurer_2) is True
    with fresh.platform.audit.uow(readonly=True) as repos:
        assert repos.beneficiaries_by_nir(1, insurer_1["nir"]) == []
    # Its quotes are gone too (unreadable reads as not found, never a server error).
    assert fresh.client.get(f"/v1/quotes/{quote['number']}", headers=headers).status_code == 404


def test_rotating_the_platform_key_keeps_professionals_payable(fresh: World) -> None:
    """Professionals' names and IBANs are sealed with the platform's own key (owner 0)."""
    headers = fresh.headers("optique.demo")
    eng = engagement(fresh, headers, fresh_patients(fresh)[0])
    quote = fresh.client.post("/v1/quotes", headers=headers, json={"engagement_number": eng, "kind": "pec",
                                                                   "lines": GLASSES}).json()
    sent = fresh.client.post("/v1/invoices", headers=headers, json={
        "invoice_number": "F-ROT-1", "pec_number": quote["number"], "date_of_care": "2026-03-02",
        "lines": invoice_lines(GLASSES, quote)})
    assert sent.status_code == 201, sent.text
    env = {"TIERS_DATABASE_URL": str(fresh.platform.engine.url), "TIERS_VAR_DIR": str(fresh.platform.settings.var_dir),
           "PATH": str(TIERS.parent)}
    done = subprocess.run([str(TIERS), "keys", "rotate", "--platform", "--batch", "7"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "platform: key version 2" in done.stdout and "retired versions [1]" in done.stdout
    assert versions(fresh, PLATFORM) == {2}
    fresh.platform.protection._synced.clear()
    insurer = fresh.headers("assureur.demo")
    run = fresh.client.post("/v1/payment-runs", headers=insurer, json={})
    assert run.status_code == 201, run.text
    sepa = fresh.client.get(f"/v1/payment-runs/{run.json()['id']}/sepa", headers=insurer).text
    assert "<IBAN>FR" in sepa
