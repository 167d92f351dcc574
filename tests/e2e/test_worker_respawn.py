"""A server worker killed (kill -9) under requests: the server keeps answering and the worker is
started again (issue 16, point 6; `tiers serve` runs granian with respawn_failed_workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_readme_tour import TIERS, free_port
from tierspayant.simulate.driver import wait_until_serving


def workers_of(pid: int) -> set[int]:
    """The server's worker processes (its children, and theirs)."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent:
                    found.add(int(entry.name))
                    frontier.append(int(entry.name))
    return found


def test_a_killed_worker_is_respawned_and_the_server_keeps_answering(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TIERS_VAR_DIR": str(tmp_path / "var"), "TIERS_WORKERS": "2", "TIERS_RELAY": "false"}
    env.pop("TIERS_DATABASE_URL", None)
    server = subprocess.Popen([str(TIERS), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        if not wait_until_serving(base, seconds=60):
            pytest.fail("server did not start")
        deadline = time.monotonic() + 20
        while len(workers_of(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        before = workers_of(server.pid)
        assert len(before) >= 2, before
        victim = max(before)
        os.kill(victim, signal.SIGKILL)
        answers = []
        with httpx.Client(timeout=5) as client:
            for _ in range(40):  # 4 s of requests while the worker is gone and comes back
                try:
                    answers.append(client.get(f"{base}/v1/health").status_code)
                except httpx.HTTPError:
                    answers.append(0)
                time.sleep(0.1)
        assert server.poll() is None  # the server did not exit
        assert answers.count(200) >= 35, answers  # the other worker answered meanwhile
        deadline = time.monotonic() + 20
        while (len(workers_of(server.pid) - {victim}) < len(before)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert victim not in workers_of(server.pid) and len(workers_of(server.pid)) >= len(before)
    finally:
        server.terminate()
        server.communicate(timeout=15)
