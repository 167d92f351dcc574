"""/metrics of a real `tiers serve` with two workers (issue 19, point 4): whichever worker a
scrape reaches, it reports the server's counts -- every worker's added up (prometheus-client's
multiprocess files under var/metrics/<port>) -- and the server's logs are JSON lines with
TIERS_LOG_FORMAT=json, granian's own included."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_readme_tour import TIERS, free_port
from tierspayant.simulate.driver import wait_until_serving

# The readiness route, not the trivial one: wait_until_serving polls /v1/health while the
# workers start, and those polls are no part of what the test counts.
HEALTH = {"route": "/v1/health/ready", "method": "GET", "status": "2xx"}


def scraped_health(base: str) -> float:
    """The server's count of answered /v1/health/ready, from one scrape (a new connection: any worker)."""
    answer = httpx.get(f"{base}/metrics", timeout=5)  # loopback, no token configured: allowed
    assert answer.status_code == 200, answer.text
    return sum(s.value for family in text_string_to_metric_families(answer.text) for s in family.samples
               if s.name == "tiers_http_requests_total" and s.labels == HEALTH)


def per_worker_health(directory: Path) -> dict[int, float]:
    """Each worker's own count, from its own file."""
    out = {}
    for path in directory.glob("counter_*.db"):
        counted = sum(s.value for metric in MultiProcessCollector.merge([str(path)]) for s in metric.samples
                      if s.name == "tiers_http_requests_total" and s.labels == HEALTH)
        if counted:
            out[int(path.stem.split("_")[1])] = counted
    return out


def test_metrics_add_up_both_workers_and_the_logs_are_json(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TIERS_VAR_DIR": str(tmp_path / "var"), "TIERS_WORKERS": "2", "TIERS_RELAY": "false",
           "TIERS_LOG_FORMAT": "json", "TIERS_LOG_LEVEL": "info"}
    env.pop("TIERS_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([str(TIERS), "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink)
    directory = tmp_path / "var" / "metrics" / str(port)
    try:
        if not wait_until_serving(base, seconds=60):
            pytest.fail("server did not start: " + log.read_text()[-2000:])
        workers: dict[int, float] = {}
        deadline = time.monotonic() + 10
        with ThreadPoolExecutor(8) as pool:  # fresh connections at once: both workers take some
            while len(workers) < 2 and time.monotonic() < deadline:
                assert all(s == 200 for s in pool.map(lambda _: httpx.get(f"{base}/v1/health/ready").status_code,
                                                      range(32)))
                workers = per_worker_health(directory)
        assert len(workers) == 2, f"one worker answered every request: {workers}"
        # A request is counted once its answer is sent: the client may read the answer before
        # the worker's file has it. Settle on two equal readings before comparing.
        while (again := per_worker_health(directory)) != workers and time.monotonic() < deadline + 5:
            workers = again
            time.sleep(0.2)
        totals = {scraped_health(base) for _ in range(8)}  # 8 scrapes: both workers scraped, surely
        assert totals == {sum(workers.values())}, (totals, workers)
    finally:
        server.terminate()
        server.wait(timeout=15)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line an object: granian's and the app's
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records), lines[:5]
    assert any(r["logger"] == "_granian" for r in records), lines[:5]
