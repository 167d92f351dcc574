"""Fault drills with real processes (issue 16, point 6): the server (`tiers serve`, two workers)
and the relay (`tiers relay`) are killed with SIGKILL in the middle of submissions and
deliveries, then started again, while a practice software client keeps sending invoices to a
PostgreSQL-backed platform and an insurer's webhook receiver (a real HTTP server checking the
Standard Webhooks signature) takes the messages.

What must hold afterwards: every invoice the client was answered for is stored once; every
invoice stored has reached the receiver; no message reached it twice with different content
(a message delivered again after a kill carries the same id and body: the receiver dedups)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from tests.conftest import LENIENT_DETECTION, database_url
from tests.e2e.test_readme_tour import TIERS, free_port
from tests.integration.test_delivery import Receiver
from tierspayant.simulate.driver import wait_until_serving
from tierspayant.store import tables as t

LINE = {"code": "G", "price": "30.00", "amc_claimed": "9.00"}  # a consultation (simulate/traffic.py)


@dataclass
class Platform:
    """The platform's processes, each in its own process group (a SIGKILL takes its workers)."""

    env: dict[str, str]
    port: int
    server: subprocess.Popen[bytes] | None = None
    relay: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self, seed: bool = False) -> None:
        args = [str(TIERS), "serve", "--port", str(self.port), *(["--seed-demo"] if seed else [])]
        self.server = subprocess.Popen(args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        if not wait_until_serving(self.base, seconds=90):
            pytest.fail("server did not start")

    def start_relay(self) -> None:
        self.relay = subprocess.Popen([str(TIERS), "relay"], env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)

    @staticmethod
    def kill(process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def token(self, username: str) -> str:
        return subprocess.run([str(TIERS), "demo", "token", username, "--base-url", self.base], env=self.env,
                              capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@dataclass
class PracticeSoftware:
    """Sends invoices one after another; an invoice not answered (a dropped connection, a 503)
    is sent again under the same number until it is (invoices are idempotent on it)."""

    platform: Platform
    token: str
    patients: list[dict[str, str]]
    answered: dict[str, int] = field(default_factory=dict)  # invoice number -> status
    unanswered: int = 0
    statuses: list[int] = field(default_factory=list)
    #: Every answer: (monotonic time, status, whether it said Retry-After); status 0: none.
    answers: list[tuple[float, int, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.platform.base, timeout=10,
                          headers={"authorization": f"Bearer {self.token}"}) as client:
            while not self.stop.is_set():
                number = f"DRILL-{n}"
                while number not in self.answered and not self.stop.is_set():
                    status = self.invoice(client, number, self.patients[n % len(self.patients)])
                    self.statuses.append(status)
                    if status in (200, 201):
                        self.answered[number] = status
                    else:
                        self.unanswered += 1
                        time.sleep(0.1)
                n += 1

    def invoice(self, client: httpx.Client, number: str, patient: dict[str, str]) -> int:
        today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()  # the date of care, in France
        check = self.send(client, "/v1/rights-checks", {**patient, "date_of_care": today, "category": "consultation"})
        if check is None or check.status_code != 200:
            return check.status_code if check is not None else 0
        sent = self.send(client, "/v1/invoices", {"invoice_number": number, "date_of_care": today,
                                                  "engagement_number": check.json()["engagement_number"],
                                                  "lines": [LINE]})
        return sent.status_code if sent is not None else 0

    def send(self, client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response | None:
        try:
            answer = client.post(path, json=body)
        except httpx.HTTPError:
            self.answers.append((time.monotonic(), 0, False))
            return None
        self.answers.append((time.monotonic(), answer.status_code, "retry-after" in answer.headers))
        return answer


@pytest.fixture
def drill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = database_url(request, "postgresql", tmp_path)
    env = {**os.environ, "TIERS_DATABASE_URL": url, "TIERS_VAR_DIR": str(tmp_path / "var"), "TIERS_WORKERS": "2",
           "TIERS_RELAY": "false", "TIERS_DETECTION": json.dumps(LENIENT_DETECTION), "TIERS_SESSION_RATE": "1000",
           "TIERS_SESSION_BURST": "1000", "TIERS_DELIVERY_LEASE_SECONDS": "3"}
    platform = Platform(env, free_port())
    try:
        yield platform
    finally:
        Platform.kill(platform.relay)
        Platform.kill(platform.server)


def test_kill_9_of_the_server_and_the_relay_loses_and_duplicates_nothing(drill: Platform, tmp_path: Path) -> None:
    drill.start_server(seed=True)
    admin = {"authorization": f"Bearer {drill.token('admin.demo')}"}
    receiver = Receiver(free_port())
    made = httpx.post(f"{drill.base}/v1/delivery/destinations", headers=admin, json={
        "name": "claims", "channel": "webhook", "kinds": ["invoice.adjudicated"],
        "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks"}, "insurer_id": 1}, timeout=10)
    assert made.status_code == 201, made.text
    receiver.secret = made.json()["secret"]
    receiver.start()
    patients = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())["patients"]
    client = PracticeSoftware(drill, drill.token("medecin.demo"), patients)
    drill.start_relay()
    load = threading.Thread(target=client.run, daemon=True)
    load.start()
    try:
        time.sleep(4)
        Platform.kill(drill.relay)  # mid-delivery: its leases run out, another relay takes them
        time.sleep(2)
        drill.start_relay()
        time.sleep(3)
        Platform.kill(drill.server)  # mid-submission: the client's request is cut
        time.sleep(1)
        drill.start_server()
        time.sleep(4)
        Platform.kill(drill.relay)
        drill.start_relay()
        time.sleep(3)
    finally:
        client.stop.set()
        load.join(timeout=30)
    assert len(client.answered) >= 20, (len(client.answered), client.statuses[-20:])
    assert client.unanswered >= 1  # the server's kill cut some requests (else the drill proved nothing)
    assert 500 not in client.statuses
    engine = create_engine(drill.env["TIERS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(t.invoices.c.invoice_number, func.count()).where(
                t.invoices.c.invoice_number.like("DRILL-%")).group_by(t.invoices.c.invoice_number)).all()
        assert {n for n, _ in stored} == set(client.answered)  # every answered invoice stored, no other
        assert all(count == 1 for _, count in stored)  # once
        deadline = time.monotonic() + 60  # a killed relay's leases (3 s here) run out first
        while time.monotonic() < deadline and len(delivered(receiver)) < len(stored):
            time.sleep(0.5)
        assert delivered(receiver) == set(client.answered)  # every stored invoice reached the insurer
        bodies: dict[str, set[str]] = {}
        for webhook_id, body in receiver.received:
            bodies.setdefault(webhook_id, set()).add(json.dumps(body, sort_keys=True))
        assert all(len(b) == 1 for b in bodies.values())  # a message again: the same content
        with engine.connect() as conn:
            waiting = conn.execute(select(func.count()).select_from(t.outbox_messages).where(
                t.outbox_messages.c.acknowledged_at.is_(None))).scalar()
        assert waiting == 0
        print(f"drill: {len(client.answered)} invoices answered, {client.unanswered} requests cut or refused "
              f"({sorted(set(client.statuses))}), {len(receiver.received)} webhooks received, "
              f"{len(receiver.unique())} unique")
    finally:
        engine.dispose()
        receiver.stop()


def delivered(receiver: Receiver) -> set[Any]:
    return {m["data"]["invoice_number"] for m in receiver.unique().values() if m["type"] == "invoice.adjudicated"}


PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/lib/postgresql/15/bin"))


class Cluster:
    """A PostgreSQL cluster of the test's own (initdb as the postgres user), so that it can be
    stopped abruptly (``-m immediate``: no checkpoint, as a crash) without the other tests'."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tiers-pg-"))
        shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self.as_postgres("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")

    def as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args], check=True,
                       capture_output=True, timeout=60)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.as_postgres("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"), "-o",
                         f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self.as_postgres("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    made.start()
    try:
        yield made
    finally:
        made.remove()


def test_a_postgresql_restart_under_load_answers_503_and_recovers_by_itself(cluster: Cluster,
                                                                            tmp_path: Path) -> None:
    """The database stopped abruptly for 3 s under load and started again: the server is not
    restarted; meanwhile every failure is a 503 with Retry-After (0 answers of 500), no answered
    invoice is lost, the first success comes within a second of the database's return, and the
    relay (inside the server here) delivers everything afterwards."""
    env = {**os.environ, "TIERS_DATABASE_URL": cluster.url, "TIERS_VAR_DIR": str(tmp_path / "var"),
           "TIERS_WORKERS": "2", "TIERS_DETECTION": json.dumps(LENIENT_DETECTION), "TIERS_SESSION_RATE": "1000",
           "TIERS_SESSION_BURST": "1000", "TIERS_DELIVERY_LEASE_SECONDS": "3"}
    platform = Platform(env, free_port())
    receiver = Receiver(free_port())
    try:
        platform.start_server(seed=True)
        admin = {"authorization": f"Bearer {platform.token('admin.demo')}"}
        made = httpx.post(f"{platform.base}/v1/delivery/destinations", headers=admin, json={
            "name": "claims", "channel": "webhook", "kinds": ["invoice.adjudicated"],
            "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks"}, "insurer_id": 1}, timeout=10)
        assert made.status_code == 201, made.text
        receiver.secret = made.json()["secret"]
        receiver.start()
        patients = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())["patients"]
        client = PracticeSoftware(platform, platform.token("medecin.demo"), patients)
        load = threading.Thread(target=client.run, daemon=True)
        load.start()
        try:
            time.sleep(3)
            cluster.stop()
            down = time.monotonic()
            time.sleep(3)
            cluster.start()  # returns once it accepts connections (-w)
            back = time.monotonic()
            time.sleep(4)
        finally:
            client.stop.set()
            load.join(timeout=30)
        assert platform.server is not None and platform.server.poll() is None  # never restarted
        during = [(status, retry) for at, status, retry in client.answers if down <= at < back]
        assert during, "no request was answered while the database was away"
        assert 500 not in [s for _, s, _ in client.answers]
        failures = [(s, r) for s, r in during if s >= 500]
        assert failures and all(s == 503 and r for s, r in failures), sorted(set(during))[:5]
        first = min(at for at, status, _ in client.answers if at >= back and status in (200, 201))
        assert first - back < 1.0, first - back
        engine = create_engine(cluster.url)
        try:
            with engine.connect() as conn:
                stored = conn.execute(select(t.invoices.c.invoice_number, func.count()).where(
                    t.invoices.c.invoice_number.like("DRILL-%")).group_by(t.invoices.c.invoice_number)).all()
        finally:
            engine.dispose()
        assert {n for n, _ in stored} == set(client.answered) and all(c == 1 for _, c in stored)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and delivered(receiver) != set(client.answered):
            time.sleep(0.5)
        assert delivered(receiver) == set(client.answered)
        print(f"drill: {len(client.answered)} invoices answered, {len(failures)} answers of 503 while the database "
              f"was away, first success {first - back:.3f} s after its return")
    finally:
        Platform.kill(platform.server)
        receiver.stop()
