"""Several API processes behind one address (issue 19, point 5), on PostgreSQL: two `tiers serve`
instances (two granian workers each) sharing one database behind HAProxy (Debian's, `make tools`).

- a scraper whose requests the load balancer spreads over both instances is contained after as
  many attempts as against a single instance: detection counts in the database, not in a process;
- a kill switch set through one instance refuses on the other within the documented bound
  (services/detection.py CACHE_SECONDS: every process re-reads the containments that often);
- exactly one process of the four holds the signer's lease (store/leases.py), and another takes
  over and signs when the holder's database session ends."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.conftest import database_url
from tests.e2e.test_readme_tour import TIERS, free_port
from tierspayant.services.detection import CACHE_SECONDS
from tierspayant.simulate.attacks import guessed_identities
from tierspayant.simulate.driver import wait_until_serving
from tierspayant.simulate.traffic import Patient
from tierspayant.store.leases import SIGNER_LOCK

pytestmark = pytest.mark.xdist_group("several_nodes")

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
#: The kill switch's bound: a containment is read by every process within CACHE_SECONDS; the
#: rest is this machine's scheduling (two cores, four server processes and the test).
KILL_SWITCH_BOUND = CACHE_SECONDS + 1.5


class Cluster:
    def __init__(self, tmp: Path, url: str, instances: int) -> None:
        self.tmp, self.url = tmp, url
        self.env = {**os.environ, "TIERS_DATABASE_URL": url, "TIERS_VAR_DIR": str(tmp / "var"),
                    "TIERS_WORKERS": "2", "TIERS_RELAY": "false", "TIERS_CHECKPOINT_SECONDS": "0.5"}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run([str(TIERS), "seed", "--beneficiaries", "300"], env=self.env, check=True,
                       capture_output=True)
        self.ports = [free_port() for _ in range(instances)]
        self.servers: list[subprocess.Popen[bytes] | None] = []
        for port in self.ports:
            log = (tmp / f"serve-{port}.log").open("w")
            self.servers.append(subprocess.Popen([str(TIERS), "serve", "--port", str(port)], env=self.env,
                                                 stdout=log, stderr=log))
        for port in self.ports:
            assert wait_until_serving(f"http://127.0.0.1:{port}", seconds=60), (tmp / f"serve-{port}.log").read_text()
        self.balancer: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.ports[0]}"
        if instances > 1:
            lb = free_port()
            config = tmp / "haproxy.cfg"
            servers = "".join(f"  server n{i} 127.0.0.1:{p}\n" for i, p in enumerate(self.ports))
            config.write_text(
                "global\n  maxconn 512\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n"
                f"  timeout server 30s\nfrontend api\n  bind 127.0.0.1:{lb}\n  default_backend nodes\n"
                f"backend nodes\n  balance roundrobin\n{servers}")
            self.balancer = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
            self.base = f"http://127.0.0.1:{lb}"
            assert wait_until_serving(self.base, seconds=20)
        self.demo = json.loads((tmp / "var" / "demo-credentials.json").read_text())

    def token(self, username: str, base: str | None = None) -> str:
        out = subprocess.run([str(TIERS), "demo", "token", username, "--base-url", base or self.base],
                             env=self.env, check=True, capture_output=True, text=True).stdout
        return out.strip()

    def stop(self, index: int) -> None:
        server = self.servers[index]
        if server is not None:
            server.terminate()
            server.wait(20)
            self.servers[index] = None

    def close(self) -> None:
        if self.balancer is not None:
            self.balancer.terminate()
            self.balancer.wait(10)
        for index in range(len(self.servers)):
            self.stop(index)

    def signers(self) -> int:
        """Processes holding the signer's advisory lock on this database (pg_locks: a bigint
        key shows as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1)."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                    "AND classid = :high AND objid = :low AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"),
                    {"high": SIGNER_LOCK >> 32, "low": SIGNER_LOCK & 0xFFFFFFFF}).scalar_one())
        finally:
            engine.dispose()

    def _scalar(self, sql: str) -> object:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar_one()
        finally:
            engine.dispose()

    def holder_backend(self) -> int:
        """The server process of the signer's lease session (pg_locks' pid of the granted lock)."""
        return int(self._scalar(  # type: ignore[call-overload]
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            f"AND classid = {SIGNER_LOCK >> 32} AND objid = {SIGNER_LOCK & 0xFFFFFFFF} "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))

    def end_backend(self, pid: int) -> None:
        assert self._scalar(f"SELECT pg_terminate_backend({int(pid)})") is True

    def checkpoint_size(self) -> int:
        answer = httpx.get(f"{self.base}/v1/log/checkpoint", timeout=10)
        assert answer.status_code == 200, answer.text
        return int(answer.text.splitlines()[1])


@pytest.fixture()
def make_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[type[Cluster]]:
    if not os.path.exists(HAPROXY):
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing (make tools installs it)")
        pytest.skip("haproxy is missing (make tools)")
    made: list[Cluster] = []

    def make(instances: int) -> Cluster:
        tmp = tmp_path / f"c{len(made)}"
        tmp.mkdir()
        cluster = Cluster(tmp, database_url(request, "postgresql", tmp), instances)
        made.append(cluster)
        return cluster

    yield make  # type: ignore[misc]
    for cluster in made:
        cluster.close()


def body(patient: Patient | dict[str, str]) -> dict[str, str]:
    fields = patient if isinstance(patient, dict) else {k: getattr(patient, k) for k in Patient.__slots__}
    return {k: fields[k] for k in ("amc_number", "member_number", "nir", "birth_date")} | {
        "date_of_care": datetime.now(UTC).date().isoformat(), "category": "optical"}


def attempts_until_contained(cluster: Cluster) -> tuple[int, int]:
    """A scraper enumerating NIRs next to a known patient's, one request at a time: how many
    answers it got before being refused, and the refusal's status."""
    token = cluster.token("optique.demo")
    known = Patient(**{k: cluster.demo["patients"][0][k] for k in ("amc_number", "member_number", "nir", "birth_date")})
    with httpx.Client(base_url=cluster.base, headers={"authorization": f"Bearer {token}"}, timeout=10) as client:
        for n, guess in enumerate(guessed_identities(random.Random(7), known, 200)):
            answer = client.post("/v1/rights-checks", json=body(guess))
            if answer.status_code != 200:
                return n, answer.status_code
    raise AssertionError("the scraper was never contained")


def rights_checks_served(port: int) -> float:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    return sum(s.value for family in text_string_to_metric_families(answer.text) for s in family.samples
               if s.name == "tiers_http_requests_total" and s.labels.get("route") == "/v1/rights-checks")


def test_a_scraper_spread_over_two_instances_is_contained_as_if_there_were_one(make_cluster: type[Cluster]) -> None:
    alone = attempts_until_contained(make_cluster(1))
    pair = make_cluster(2)
    spread = attempts_until_contained(pair)
    assert spread == alone, f"one instance: contained after {alone[0]} ({alone[1]}); two: {spread[0]} ({spread[1]})"
    print(f"a scraper contained after {alone[0]} answers ({alone[1]}) on one instance, {spread[0]} ({spread[1]}) on two")
    served = [rights_checks_served(port) for port in pair.ports]
    assert all(count >= spread[0] // 2 for count in served), served  # the balancer did spread it


def test_a_kill_switch_crosses_instances_and_exactly_one_process_signs(make_cluster: type[Cluster]) -> None:
    """One cluster for both (each costs a seed and four processes): the kill switch, lifted,
    then the signer's election and its takeover."""
    cluster = make_cluster(2)
    first, second = (f"http://127.0.0.1:{port}" for port in cluster.ports)
    officer = {"authorization": f"Bearer {cluster.token('securite.demo', first)}"}
    token = cluster.token("optique.demo", second)
    patient = body(cluster.demo["patients"][1])
    # A new connection for every request: the other instance's two workers both answer.
    with httpx.Client(base_url=second, headers={"authorization": f"Bearer {token}"}, timeout=10,
                      limits=httpx.Limits(max_keepalive_connections=0)) as other:
        assert other.post("/v1/rights-checks", json=patient).status_code == 200
        closed = httpx.post(f"{first}/v1/security/containments", headers=officer, timeout=10,
                            json={"scope": "insurer", "target_id": 1, "reason": "drill: several nodes"})
        assert closed.status_code == 201, closed.text
        started = time.monotonic()
        refused_since: float | None = None  # when the first of the refusals in a row was sent
        in_a_row = 0
        while in_a_row < 6:  # six new connections in a row refused: both workers have it
            sent = time.monotonic()
            status = other.post("/v1/rights-checks", json=patient).status_code
            if status == 200:
                refused_since, in_a_row = None, 0
            else:
                refused_since, in_a_row = refused_since or sent, in_a_row + 1
            assert sent - started < KILL_SWITCH_BOUND + 5, "the other instance kept answering"
            time.sleep(0.05)
        assert refused_since is not None
        took = refused_since - started
        assert status == 503  # "Route closed"
        assert took <= KILL_SWITCH_BOUND, f"refused on the other instance after {took:.2f} s"
        print(f"kill switch set on one instance, refused on the other after {took:.2f} s")
        lifted = httpx.post(f"{first}/v1/security/containments/{closed.json()['id']}/lift", headers=officer, timeout=10)
        assert lifted.status_code == 204, lifted.text

    def check_some(base: str) -> None:
        deadline = time.monotonic() + KILL_SWITCH_BOUND + 5  # the lift, too, reaches each process in time
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=10) as client:
            for p in cluster.demo["patients"][:4]:
                while (status := client.post("/v1/rights-checks", json=body(p)).status_code) == 503:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                assert status == 200

    check_some(cluster.base)
    deadline = time.monotonic() + 10
    while cluster.signers() != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.signers() == 1  # four processes, one signer
    cluster.base = second
    signed = cluster.checkpoint_size()
    holder = cluster.holder_backend()
    cluster.end_backend(holder)  # the signer's session ends (a network cut, a stuck process, an admin)
    check_some(second)
    deadline = time.monotonic() + 15
    while (cluster.checkpoint_size() <= signed or cluster.signers() != 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.checkpoint_size() > signed  # a successor signs
    assert cluster.signers() == 1 and cluster.holder_backend() != holder
