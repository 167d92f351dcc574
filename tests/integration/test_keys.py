"""Key rotation without downtime and crypto-shredding (THREATS.md T5)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients, make_world
from tierspayant.security.fields import FieldCipher
from tierspayant.store import tables as t

TIERS = Path(sys.executable).parent / "tiers"


@pytest.fixture()
def fresh(tmp_path: Path) -> Iterator[World]:
    world = make_world(f"sqlite:///{tmp_path / 'tiers.db'}", tmp_path, "sqlite", beneficiaries=120)
    yield world
    world.platform.engine.dispose()


def covered(world: World, headers: dict[str, str], patient: dict[str, str]) -> bool:
    response = world.client.post("/v1/rights-checks", headers=headers,
                                 json={**patient, "date_of_care": "2026-03-02", "category": "optical"})
    assert response.status_code == 200, response.text
    return bool(response.json()["covered"])


def versions(world: World, insurer_id: int) -> set[int]:
    with world.platform.engine.connect() as conn:
        rows = conn.execute(select(t.beneficiaries.c.nir_enc).where(t.beneficiaries.c.insurer_id == insurer_id))
        return {FieldCipher.version_of(r[0]) for r in rows}


def test_rotation_reencrypts_in_batches_while_serving(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    patients = fresh_patients(fresh, count=3)
    protection = fresh.platform.protection
    assert versions(fresh, 1) == {1}
    with fresh.platform.engine.begin() as conn:
        assert protection.rotate(conn, 1) == 2
    assert covered(fresh, headers, patients[0])  # old rows still read during the rotation
    after = 0
    while True:
        with fresh.platform.engine.begin() as conn:
            last, _ = protection.reencrypt(conn, 1, after, 10)
        if last == after:
            break
        after = last
        assert covered(fresh, headers, patients[1])  # and between batches
    assert versions(fresh, 1) == {2}
    with fresh.platform.engine.begin() as conn:
        assert protection.retire_old(conn, 1) == [1]
    assert covered(fresh, headers, patients[2])
    with fresh.platform.engine.connect() as conn:
        assert conn.execute(select(t.data_keys.c.version).where(t.data_keys.c.insurer_id == 1)).scalars().all() == [2]


def test_shredding_one_insurer_leaves_the_others(fresh: World) -> None:
    headers = fresh.headers("optique.demo")
    insurer_1 = fresh_patients(fresh, insurer_id=1)[0]
    insurer_2 = fresh_patients(fresh, insurer_id=2)[0]
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
