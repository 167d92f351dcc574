"""Seeding at scale (issue 19, point 1) on both databases, small: the parallel chunked seed
writes what the same seed in one process writes, and the rights check finds its people through
the API; a ``tiers seed`` killed with SIGKILL part-way resumes to exactly the rows of an
uninterrupted seed; another specification against a partly seeded database is refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import LENIENT_DETECTION, World, database_url
from tests.fakes import START, FakeClock
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.simulate.chunks import ChunkedPopulation, chunk_count
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import demo_patients, seed
from tierspayant.simulate.seed_scale import seed_at_scale
from tierspayant.store import tables as t
from tierspayant.web.app import create_app

TIERS = Path(sys.executable).parent / "tiers"


def _spec(**changes: Any) -> PopulationSpec:
    fields: dict[str, Any] = {"beneficiaries": 3_000, "professionals": 12, "seed": 7, "today": START.date(),
                              "proofless_quota": 10_000, "detection": LENIENT_DETECTION, "batch_size": 500}
    return PopulationSpec(**{**fields, **changes})


def _platform(url: str, var_dir: Path, clock: FakeClock | None = None) -> Platform:
    settings = Settings(database_url=url, var_dir=var_dir, detection=LENIENT_DETECTION, sign_in_hold_seconds=0.0,
                        session_rate=1e9, session_burst=1e9, account_rate=1e9, account_burst=1e9,
                        invalid_tokens_per_source=10**9)
    return build(settings, clock=clock)


def _plain_rows(platform: Platform) -> dict[str, Any]:
    """Everything the chunks wrote, decrypted, with the blind indexes (same key files: same indexes)."""
    with platform.engine.connect() as conn:
        people = [(platform.protection.open_beneficiary(conn, row), row.nir_bidx, row.member_bidx)
                  for row in conn.execute(select(t.beneficiaries).order_by(t.beneficiaries.c.id))]
        periods = [tuple(row) for row in conn.execute(select(t.rights_periods).order_by(t.rights_periods.c.id))]
        purchases = [(p["id"], p["beneficiary_id"], p["delivered_on"]) for p in (
            platform.protection.open(conn, "optical_purchases", row)
            for row in conn.execute(select(t.optical_purchases).order_by(t.optical_purchases.c.id)))]
    return {"beneficiaries": people, "rights_periods": periods, "optical_purchases": purchases}


def _secondary_indexes(platform: Platform) -> set[str]:
    with platform.engine.connect() as conn:
        if platform.engine.dialect.name == "postgresql":
            query = "SELECT indexname FROM pg_indexes WHERE tablename IN ('beneficiaries', 'rights_periods')"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('beneficiaries', 'rights_periods')"
        return {row[0] for row in conn.exec_driver_sql(query)}


def test_two_workers_write_what_one_process_writes(backend: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    spec = _spec()
    clock = FakeClock()
    parallel = _platform(database_url(request, backend, tmp_path), tmp_path, clock)
    report = seed_at_scale(parallel, spec, tmp_path / "parallel.json", workers=2)
    assert (report.beneficiaries, report.resumed) == (3_000, 0) and report.size_bytes
    alone = _platform(database_url(request, backend, tmp_path), tmp_path)  # same key files
    seed_at_scale(alone, spec, tmp_path / "alone.json", workers=1)
    assert _plain_rows(parallel) == _plain_rows(alone)
    assert len(_plain_rows(parallel)["beneficiaries"]) == 3_000
    # The lookups exist at the end (set aside while loading on PostgreSQL, made again).
    assert {"ix_beneficiaries_nir", "ix_beneficiaries_member", "ix_rights_periods_beneficiary_id"} <= \
        _secondary_indexes(parallel)

    # The rights check finds a demo patient (chunk 0) and one of the last chunk through the API.
    demo = report.demo
    app = create_app(parallel)
    from fastapi.testclient import TestClient

    world = World(parallel, TestClient(app), clock, demo, backend, app)
    population = ChunkedPopulation(spec)
    last = population.chunk(chunk_count(spec) - 1)
    assert population.chunk(5, limit=100).beneficiaries == last.beneficiaries[:100]  # a head is the same rows
    patients = [demo["patients"][0], demo_patients(last.beneficiaries, last.rights_periods,
                                                   last.optical_purchases, spec)[0], demo["patients_spread"][-1]]
    assert int(patients[1]["member_number"]) > 2_500 and int(patients[2]["member_number"]) > 2_500
    headers = world.headers("optique.demo")
    for patient in patients:
        response = world.client.post("/v1/rights-checks", headers=headers, json={
            **patient, "date_of_care": clock.now().date().isoformat(), "category": "optical"})
        assert response.status_code == 200, response.text
        assert response.json()["covered"] is True
    # Ids continue after the seeded ones (sequences set at the end).
    with parallel.engine.begin() as conn:
        new_id = conn.execute(t.rights_periods.insert().values(
            beneficiary_id=1, start_date=START.date(), categories="optical").returning(t.rights_periods.c.id)).scalar()
        assert new_id is not None and new_id > 3_000
        conn.rollback()
    for platform in (parallel, alone):
        platform.engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = {name: int(conn.execute(select(func.count()).select_from(t.metadata.tables[name])).scalar_one())
               for name in ("beneficiaries", "rights_periods", "optical_purchases")}
        out["distinct"] = int(conn.execute(select(func.count(t.beneficiaries.c.id.distinct()))).scalar_one())
        out["max_id"] = int(conn.execute(select(func.max(t.beneficiaries.c.id))).scalar_one() or 0)
        try:
            out["chunks"] = int(conn.exec_driver_sql("SELECT count(*) FROM seed_chunks").scalar_one())
        except DBAPIError:  # not migrated yet
            out["chunks"] = 0
    engine.dispose()
    return out


def test_a_seed_killed_part_way_resumes_to_the_same_rows(backend: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    url = database_url(request, backend, tmp_path)
    env = {**os.environ, "TIERS_DATABASE_URL": url, "TIERS_VAR_DIR": str(tmp_path / "var")}
    size, chunk, total = 12_000, 100, 120
    command = [str(TIERS), "seed", "--beneficiaries", str(size), "--professionals", "12", "--workers", "2",
               "--chunk-size", str(chunk), "--seed", "11"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    poll = create_engine(url)
    while time.monotonic() < deadline and first.poll() is None:
        if (tmp_path / "var" / "demo-credentials.json").exists():  # migrated, set up
            with poll.connect() as conn:
                if conn.exec_driver_sql("SELECT count(*) FROM seed_chunks").scalar_one() >= 6:
                    break
        time.sleep(0.01)
    poll.dispose()
    assert first.poll() is None, "the seed ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1.0)  # the workers die with their parent (PR_SET_PDEATHSIG): nothing more is written
    killed = _counts(url)
    time.sleep(0.5)
    assert _counts(url) == killed
    assert 6 <= killed["chunks"] < total and killed["beneficiaries"] == killed["chunks"] * chunk

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "written by an earlier run" in resumed.stdout
    after = _counts(url)
    assert after == {"beneficiaries": size, "rights_periods": size, "distinct": size, "max_id": size,
                     "chunks": total, "optical_purchases": after["optical_purchases"]}

    # Exactly the rows an uninterrupted seed writes: each one's ids and blind indexes.
    spec = PopulationSpec(beneficiaries=size, professionals=12, seed=11, batch_size=chunk)
    platform = _platform(url, tmp_path / "var")
    population = ChunkedPopulation(spec)
    expected, purchases = set(), set()
    for k in range(total):
        chunk = population.chunk(k)
        expected |= {(b["id"], b["insurer_id"], platform.protection.nir_index(b["insurer_id"], b["nir"]),
                      platform.protection.member_index(b["insurer_id"], b["member_number"]))
                     for b in chunk.beneficiaries}
        purchases |= {(p["id"], p["beneficiary_id"]) for p in chunk.optical_purchases}
    with platform.engine.connect() as conn:
        b = t.beneficiaries.c
        assert set(conn.execute(select(b.id, b.insurer_id, b.nir_bidx, b.member_bidx)).all()) == expected
        o = t.optical_purchases.c
        assert set(conn.execute(select(o.id, o.beneficiary_id)).all()) == purchases
    assert "ix_beneficiaries_nir" in _secondary_indexes(platform)
    platform.engine.dispose()


class _Stop(Exception):
    pass


def test_another_specification_is_refused_and_the_same_one_resumes(backend: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    url = database_url(request, backend, tmp_path)
    platform = _platform(url, tmp_path / "var")
    spec = _spec(beneficiaries=2_000)

    seen: list[int] = []

    def stop_after_two(count: int) -> None:
        seen.append(count)
        if len(seen) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        seed_at_scale(platform, spec, tmp_path / "demo.json", on_progress=stop_after_two)
    with pytest.raises(RuntimeError, match=r"another population \(seed: 7 there, 8 asked; 2 of 4 chunks done\)"):
        seed_at_scale(platform, _spec(beneficiaries=2_000, seed=8), tmp_path / "demo.json")
    with pytest.raises(RuntimeError, match="already holds data"):  # nor the sequential seed
        seed(platform.loader, platform.reference, platform.accounts, spec, None)
    # The same key-encryption key, other blind-index keys: lookups written by the two halves
    # would not meet.
    (tmp_path / "other-var" / "keys").mkdir(parents=True)
    shutil.copy2(tmp_path / "var" / "keys" / "kek.key", tmp_path / "other-var" / "keys" / "kek.key")
    other_keys = _platform(url, tmp_path / "other-var")
    with pytest.raises(RuntimeError, match="other key files"):
        seed_at_scale(other_keys, spec, tmp_path / "demo.json")
    other_keys.engine.dispose()

    report = seed_at_scale(platform, spec, tmp_path / "demo.json")
    assert (report.resumed, report.beneficiaries) == (1_000, 1_000)
    with platform.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), max(id) FROM beneficiaries")).one() == (2_000, 2_000)
    again = seed_at_scale(platform, spec, tmp_path / "demo.json")  # a finished seed: nothing to do
    assert (again.resumed, again.beneficiaries) == (2_000, 0)
    platform.engine.dispose()
