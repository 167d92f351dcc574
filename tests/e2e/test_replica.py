"""The documented deployment's streaming replica (issue 19, point 5; README "Deployment"): a
PostgreSQL primary and a hot standby on other ports, made here from Debian's PostgreSQL binaries
(initdb, pg_basebackup -R), and a platform whose log queries (a beneficiary's history, an
account's exposure) run on the replica while everything else writes to the primary."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import make_world
from tests.e2e.test_readme_tour import free_port
from tierspayant.services.errors import Forbidden

pytestmark = pytest.mark.xdist_group("replica")

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def as_postgres(*command: str) -> None:
    """PostgreSQL's tools refuse to run as root: run them as the cluster's owner."""
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)


@pytest.fixture()
def primary_and_replica() -> Iterator[tuple[str, str]]:
    if not BINARIES or shutil.which("runuser") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's server binaries are missing")
        pytest.skip("PostgreSQL's server binaries are missing")
    bin_dir = Path(BINARIES[-1])
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="tiers-replica-"))
    shutil.chown(base, "postgres", "postgres")
    primary, replica = base / "primary", base / "replica"
    ports = free_port(), free_port()
    started: list[Path] = []
    try:
        as_postgres(str(bin_dir / "initdb"), "-D", str(primary), "-A", "trust", "-U", "postgres", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {ports[0]}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                       "wal_level = replica\nmax_wal_senders = 4\nfsync = off\n")
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(primary), "-l", str(base / "primary.log"), "-w", "start")
        started.append(primary)
        as_postgres(str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(ports[0]), "-U", "postgres", "-qc",
                    "CREATE DATABASE tiers")
        # -R: the copy starts as a standby streaming from the primary (standby.signal, primary_conninfo)
        as_postgres(str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports[0]), "-U", "postgres",
                    "-D", str(replica), "-R", "-X", "stream", "-c", "fast")
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {ports[1]}\n")
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(replica), "-l", str(base / "replica.log"), "-w", "start")
        started.append(replica)
        yield tuple(f"postgresql+psycopg://postgres@127.0.0.1:{port}/tiers" for port in ports)  # type: ignore[misc]
    finally:
        for cluster in reversed(started):
            subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(cluster),
                            "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_the_log_is_read_on_the_replica(primary_and_replica: tuple[str, str], tmp_path: Path) -> None:
    primary, replica = primary_and_replica
    world = make_world(primary, tmp_path, "postgresql", beneficiaries=40, database_replica_url=replica)
    try:
        patient = world.demo["patients"][0]
        optician = world.passkey_token("optique.demo")
        answer = world.client.post("/v1/rights-checks", headers={"authorization": f"Bearer {optician}"},
                                   json={**{k: patient[k] for k in ("amc_number", "member_number", "nir", "birth_date")},
                                         "date_of_care": world.clock.now().date().isoformat(), "category": "optical"})
        assert answer.status_code == 200, answer.text
        audit = world.platform.audit
        assert audit.replica is not audit.uow
        with create_engine(replica).connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one()  # a standby indeed
        account = world.platform.accounts.authenticate(optician).account_id
        officer = world.platform.accounts.authenticate(world.passkey_token("securite.demo"))
        window = {"start": world.clock.now() - timedelta(hours=1), "end": world.clock.now() + timedelta(hours=1)}
        deadline = time.monotonic() + 10  # streaming lag: milliseconds here
        while not (seen := audit.exposure(officer, account_id=account, **window)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [event.tag.value for _, event in seen] == ["rights:beneficiary:read"]
        standby = create_engine(replica, isolation_level="AUTOCOMMIT")
        with standby.connect() as conn:  # the platform's own connections to the standby: it was read there
            assert conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).scalar_one() >= 1
            conn.execute(text("SELECT pg_wal_replay_pause()"))  # the standby stops replaying: it lags
        second = world.demo["patients"][1]
        answer = world.client.post("/v1/rights-checks", headers={"authorization": f"Bearer {optician}"},
                                   json={**{k: second[k] for k in ("amc_number", "member_number", "nir", "birth_date")},
                                         "date_of_care": world.clock.now().date().isoformat(), "category": "optical"})
        assert answer.status_code == 200, answer.text
        # A lagging replica never answers short: the primary answers, with both checks.
        assert len(audit.exposure(officer, account_id=account, **window)) == 2
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        standby.dispose()
        with pytest.raises(Forbidden):  # the replica changes where, not who
            audit.exposure(world.platform.accounts.authenticate(optician), account_id=account, **window)
    finally:
        world.platform.engine.dispose()
