"""What the fault drills share (issue 16, point 6; tests/e2e/test_delivery_drills.py,
tests/e2e/test_disk_full_drills.py): the platform's real processes, a practice software client
that keeps sending invoices, a PostgreSQL cluster of a drill's own, and the drill of an outage
under load with what must hold afterwards."""

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from tests.conftest import LENIENT_DETECTION
from tests.e2e.test_readme_tour import TIERS, free_port
from tests.integration.test_delivery import Receiver
from tierspayant.simulate.driver import wait_until_serving
from tierspayant.store import tables as t

LINE = {"code": "G", "price": "30.00", "amc_claimed": "9.00"}  # a consultation (simulate/traffic.py)


def platform_env(url: str, var_dir: Path, **more: str) -> dict[str, str]:
    """A drill's platform: two workers, detection lenient and session limits high (the client is
    one busy practice), short delivery leases (a killed relay's run out in 3 s)."""
    return {**os.environ, "TIERS_DATABASE_URL": url, "TIERS_VAR_DIR": str(var_dir), "TIERS_WORKERS": "2",
            "TIERS_DETECTION": json.dumps(LENIENT_DETECTION), "TIERS_SESSION_RATE": "1000",
            "TIERS_SESSION_BURST": "1000", "TIERS_DELIVERY_LEASE_SECONDS": "3", **more}


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



PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/lib/postgresql/15/bin"))


class Cluster:
    """A PostgreSQL cluster of the test's own (initdb as the postgres user), so that it can be
    stopped abruptly (``-m immediate``: no checkpoint, as a crash) without the other tests'."""

    def __init__(self, root: Path | None = None, options: str = "") -> None:
        self.dir = root or Path(tempfile.mkdtemp(prefix="tiers-pg-"))
        self.options = options  # postgres -c settings for this cluster
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
                         f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 {self.options}", "start")

    def running(self) -> bool:
        return subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"),
                               "status"], capture_output=True, timeout=30).returncode == 0

    def stop(self) -> None:
        self.as_postgres("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def stored_invoices(url: str) -> dict[str, int]:
    """The drill's invoices in the database: number -> how many rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {n: c for n, c in conn.execute(select(t.invoices.c.invoice_number, func.count()).where(
                t.invoices.c.invoice_number.like("DRILL-%")).group_by(t.invoices.c.invoice_number)).all()}
    finally:
        engine.dispose()


def delivered(receiver: Receiver) -> set[Any]:
    return {m["data"]["invoice_number"] for m in receiver.unique().values() if m["type"] == "invoice.adjudicated"}


def claims_receiver(platform: Platform) -> Receiver:
    """Insurer 1's webhook receiver, started, registered as its claims destination by the
    demo's operator admin (its signing secret given to the receiver)."""
    receiver = Receiver(free_port())
    admin = {"authorization": f"Bearer {platform.token('admin.demo')}"}
    made = httpx.post(f"{platform.base}/v1/delivery/destinations", headers=admin, json={
        "name": "claims", "channel": "webhook", "kinds": ["invoice.adjudicated"],
        "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks"}, "insurer_id": 1}, timeout=10)
    assert made.status_code == 201, made.text
    receiver.secret = made.json()["secret"]
    receiver.start()
    return receiver


def practice(platform: Platform) -> PracticeSoftware:
    """The demo doctor's practice software, over the demo's synthetic patients."""
    var = Path(platform.env["TIERS_VAR_DIR"])
    patients = json.loads((var / "demo-credentials.json").read_text())["patients"]
    return PracticeSoftware(platform, platform.token("medecin.demo"), patients)


@dataclass
class Outage:
    """What a drill saw: the failures' (status, Retry-After) while the database was away, and
    how long after its return the first success came."""

    answered: int
    failures: list[tuple[int, bool]]
    first_success: float


def outage_under_load(platform: Platform, away: Callable[[], None], back: Callable[[], None],
                      away_for: float = 3.0) -> Outage:
    """The server (its relay inside) under a practice's load; ``away()`` takes the database
    away for ``away_for`` seconds, ``back()`` returns it (returns once it is back). What must
    hold (issue 16's acceptance): the server never restarted; 0 answers of 500; every failure
    while away a 503 with Retry-After (and some failures: else the drill proved nothing); the
    first success within a second of the return; every answered invoice stored once, no other;
    every one delivered to the insurer's receiver afterwards."""
    receiver: Receiver | None = None
    try:
        platform.start_server(seed=True)
        receiver = claims_receiver(platform)
        client = practice(platform)
        load = threading.Thread(target=client.run, daemon=True)
        load.start()
        try:
            time.sleep(3)
            away()
            down = time.monotonic()
            time.sleep(away_for)
            back()
            returned = time.monotonic()
            time.sleep(4)
        finally:
            client.stop.set()
            load.join(timeout=30)
        assert platform.server is not None and platform.server.poll() is None  # never restarted
        during = [(status, retry) for at, status, retry in client.answers if down <= at < returned]
        assert during, "no request was answered while the database was away"
        assert 500 not in [s for _, s, _ in client.answers]
        failures = [(s, r) for s, r in during if s >= 500]
        assert failures and all(s == 503 and r for s, r in failures), sorted(set(during))[:5]
        first = min(at for at, status, _ in client.answers if at >= returned and status in (200, 201))
        assert first - returned < 1.0, first - returned
        stored = stored_invoices(platform.env["TIERS_DATABASE_URL"])
        assert set(stored) == set(client.answered) and all(c == 1 for c in stored.values())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and delivered(receiver) != set(client.answered):
            time.sleep(0.5)
        assert delivered(receiver) == set(client.answered)
        return Outage(len(client.answered), failures, first - returned)
    finally:
        Platform.kill(platform.server)
        if receiver is not None:
            receiver.stop()
