"""Key rotation without downtime and crypto-shredding (docs/THREATS.md T5), as named security
officers' use cases on the transparency log; shredding under dual control."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines
from tierspayant.audit.events import Tag
from tierspayant.security import totp
from tierspayant.security.policy import Principal, Role
from tierspayant.services.keys import DualControlRequired
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


def officer_input(world: World, username: str, secret: str | None = None) -> str:
    """What the CLI asks a security officer: password, then the current TOTP code (real time:
    the command runs on the system clock)."""


    account = world.demo["accounts"].get(username)
    password = account["password"] if account else SECOND_OFFICER_PASSWORD
    code = totp.current_code(secret or account["totp_secret"], datetime.now(UTC))
    return f"{password}\n{code}\n"


SECOND_OFFICER_PASSWORD = "second-officer-passphrase"


def officer(world: World, username: str = "securite.demo") -> Principal:
    return Principal(world.demo_account_id(username), 0, Role.SECURITY_OFFICER, request_id="test")


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
    assert versions(fresh, 1) == {1}
    batches = []

    def between_batches(seen: int, total: int) -> None:
        batches.append(seen)
        assert covered(fresh, headers, patients[1])  # the platform serves between batches

    assert covered(fresh, headers, patients[0])
    done = fresh.platform.keys.rotate(officer(fresh), 1, "yearly rotation", batch=10, progress=between_batches)
    assert done.version == 2 and done.retired == [1] and len(batches) >= done.rows // 10
    assert versions(fresh, 1) == {2}
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
    env = {**fresh.env(), "PATH": str(TIERS.parent)}
    _, second_secret = fresh.platform.accounts.create("securite2.test", SECOND_OFFICER_PASSWORD,
                                                      Role.SECURITY_OFFICER)

    def tiers(*args: str, who: str = "securite.demo") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TIERS), "keys", *args, "--officer", who], env=env, capture_output=True, text=True,
                              input=officer_input(fresh, who, second_secret if who == "securite2.test" else None))

    asked = tiers("shred", "--insurer", "990000011", "--reason", "insurer left the platform, contract ended")
    assert asked.returncode == 0, asked.stderr
    request_id = asked.stdout.split("shred request ")[1].split()[0]
    assert covered(fresh, headers, insurer_1) is True  # asked, not done: nothing destroyed yet
    assert tiers("approve-shred", request_id, "--insurer", "990000011").returncode == 2  # needs --yes
    with pytest.raises(DualControlRequired):  # the officer who asked cannot approve (dual control)
        fresh.platform.keys.approve_shred(officer(fresh), int(request_id), 1)
    assert covered(fresh, headers, insurer_1) is True
    done = tiers("approve-shred", request_id, "--insurer", "990000011", "--yes", who="securite2.test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "now unreadable:" in done.stdout and "beneficiaries" in done.stdout
    # On the log, with who and why: the request, and the shred by the second officer.
    operations = fresh.platform.audit.key_operations(officer(fresh), 1)
    assert [e.tag for _, e in operations] == [Tag.KEY_SHRED_REQUEST, Tag.KEY_SHRED]
    assert "second security officer" not in done.stdout
    assert operations[0][1].account_id == fresh.demo_account_id("securite.demo")
    assert operations[1][1].account_id == fresh.demo_account_id("securite2.test")
    assert "insurer left the platform" in operations[1][1].purpose
    # And where officers look: a beneficiary's history shows what happened to its insurer's keys,
    # the approving officer's exposure shows the shred among its account's events.
    history = fresh.platform.audit.history(officer(fresh), 1, 1)
    assert [e.tag for _, e in history if e.tag.startswith("keys:")] == [Tag.KEY_SHRED_REQUEST, Tag.KEY_SHRED]
    exposure = fresh.platform.audit.exposure(officer(fresh), account_id=fresh.demo_account_id("securite2.test"),
                                             start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC))
    assert Tag.KEY_SHRED in [e.tag for _, e in exposure]
    fresh.platform.protection._synced.clear()  # this test's process syncs at once (servers: within 30 s)
    assert covered(fresh, headers, insurer_1) is False  # unreadable: nobody to find, no error
    assert covered(fresh, headers, insurer_2) is True
    with fresh.platform.uow(readonly=True) as repos:
        assert repos.beneficiaries.beneficiaries_by_nir(1, insurer_1["nir"]) == []
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
    env = {**fresh.env(), "PATH": str(TIERS.parent)}
    done = subprocess.run([str(TIERS), "keys", "rotate", "--platform", "--batch", "7", "--officer", "securite.demo",
                           "--reason", "platform key yearly rotation"], env=env, capture_output=True, text=True,
                          input=officer_input(fresh, "securite.demo"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "platform: key version 2" in done.stdout and "retired versions [1]" in done.stdout
    assert versions(fresh, PLATFORM) == {2}
    fresh.platform.protection._synced.clear()
    insurer = fresh.headers("assureur.demo")
    run = fresh.client.post("/v1/payment-runs", headers=insurer, json={})
    assert run.status_code == 201, run.text
    sepa = fresh.client.get(f"/v1/payment-runs/{run.json()['id']}/sepa", headers=insurer).text
    assert "<IBAN>FR" in sepa
