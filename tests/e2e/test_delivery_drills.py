"""Fault drills with real processes (issue 16, point 6): the server (`tiers serve`, two workers)
and the relay (`tiers relay`) are killed with SIGKILL in the middle of submissions and
deliveries, then started again, while a practice software client keeps sending invoices to a
PostgreSQL-backed platform and an insurer's webhook receiver (a real HTTP server checking the
Standard Webhooks signature) takes the messages.

What must hold afterwards: every invoice the client was answered for is stored once; every
invoice stored has reached the receiver; no message reached it twice with different content
(a message delivered again after a kill carries the same id and body: the receiver dedups)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from tests.conftest import database_url
from tests.e2e.drills import (
    Cluster,
    Platform,
    claims_receiver,
    delivered,
    outage_under_load,
    platform_env,
    practice,
    stored_invoices,
)
from tests.e2e.test_readme_tour import free_port
from tierspayant.store import tables as t


@pytest.fixture
def drill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = database_url(request, "postgresql", tmp_path)
    platform = Platform(platform_env(url, tmp_path / "var", TIERS_RELAY="false"), free_port())
    try:
        yield platform
    finally:
        Platform.kill(platform.relay)
        Platform.kill(platform.server)


def test_kill_9_of_the_server_and_the_relay_loses_and_duplicates_nothing(drill: Platform) -> None:
    drill.start_server(seed=True)
    receiver = claims_receiver(drill)
    client = practice(drill)
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
        stored = stored_invoices(drill.env["TIERS_DATABASE_URL"])
        assert set(stored) == set(client.answered)  # every answered invoice stored, no other
        assert all(count == 1 for count in stored.values())  # once
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
    """The database stopped abruptly (``-m immediate``: as a crash) for 3 s under load and
    started again: what outage_under_load asks (tests/e2e/drills.py), the server never restarted."""
    platform = Platform(platform_env(cluster.url, tmp_path / "var"), free_port())
    seen = outage_under_load(platform, cluster.stop, cluster.start)  # start returns once it accepts (-w)
    print(f"drill: {seen.answered} invoices answered, {len(seen.failures)} answers of 503 while the database was "
          f"away, first success {seen.first_success:.3f} s after its return")
