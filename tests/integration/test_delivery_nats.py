"""Delivery through NATS JetStream (issue 16, point 4; delivery/jetstream.py), on SQLite and
PostgreSQL, against real nats-server processes: the machine's (127.0.0.1:4222, a stream of this
test's own) and, for the restart drill, one the test starts, kills with SIGKILL and starts again
on the same store. The outbox stays the source of truth: a message is sent once JetStream has
it, acknowledged once its destination answered 2xx; every invoice reaches its receiver once
after deduplication, one invoice's messages in order, whatever was down meanwhile."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import World, fresh_patients
from tests.integration.test_delivery import free_port, passes, receivers, webhook
from tests.integration.test_invoice_lifecycle import send
from tierspayant.delivery.jetstream import JetStreamTransport
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.ports.delivery import MessageState
from tierspayant.services.relay import RelaySettings
from tierspayant.store import tables as t

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
#: Real-time backoffs short enough for a test (JetStream's redeliveries wait real seconds).
QUICK = RelaySettings(base_delay=timedelta(milliseconds=50), max_delay=timedelta(milliseconds=400),
                      lease=timedelta(seconds=5))


def through_nats(world: World, url: str) -> JetStreamTransport:
    """Switch this platform's relay to a JetStream stream of its own (deleted afterwards)."""
    transport = JetStreamTransport(url, f"T{uuid.uuid4().hex[:12]}", ack_wait=5.0, connect_timeout=1.0)
    world.platform.relay = replace(world.platform.relay, transport=transport, settings=QUICK, breakers={})
    return transport


def forget(transport: JetStreamTransport) -> None:
    asyncio.run(transport.forget())


def unacknowledged(world: World) -> int:
    with world.platform.engine.connect() as conn:
        rows = conn.execute(t.outbox_messages.select().where(t.outbox_messages.c.acknowledged_at.is_(None)))
        return len(rows.all())


def test_a_receiver_down_for_an_hour_gets_everything_once_and_in_order_through_nats(
        new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=150)
    transport = through_nats(world, "nats://127.0.0.1:4222")
    try:
        with receivers(2) as (down, up):
            down.secret = webhook(world, f"nats-1-{world.backend}", 1, down.port)
            up.secret = webhook(world, f"nats-2-{world.backend}", 2, up.port)
            up.start()
            first = [send(world, f"N1-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 1, 3))]
            second = [send(world, f"N2-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 2, 3))]
            cancelled = world.client.post(f"/v1/invoices/{first[0]['invoice_number']}/cancel",
                                          headers=world.headers("optique.demo"))
            assert cancelled.status_code == 200
            passes(world, 1, 0.1)
            assert sorted(m["data"]["invoice_number"] for m in up.unique().values()) == sorted(
                str(i["invoice_number"]) for i in second)
            passes(world, 60, 1)  # an hour down: JetStream hands insurer 1's first message over again and again
            assert down.received == []
            status = {b.name: b for b in world.platform.delivery.status(OPERATOR_SHELL)}
            held = status[f"nats-1-{world.backend}"]
            # In JetStream, not lost: the first message in transit, the others published or
            # waiting behind it; none dead.
            assert held.pending + held.in_transit == 4 and held.in_transit >= 1 and held.dead == 0
            assert status[f"nats-2-{world.backend}"].in_transit == 0
            down.start()
            passes(world, 60, 5, until=lambda: len(down.unique()) >= 4 and unacknowledged(world) == 0)
            got = down.unique()
            assert len(got) == 4 and len(down.received) == 4  # nothing twice, even before dedup
            mine = [m["type"] for _, m in down.received if m["data"]["invoice_number"] == first[0]["invoice_number"]]
            assert mine == ["invoice.adjudicated", "invoice.withdrawn"]
            assert unacknowledged(world) == 0  # the database knows each was acknowledged
    finally:
        forget(transport)


class NatsServer:
    """A nats-server of the test's own, with JetStream on a store that outlives a SIGKILL."""

    def __init__(self, store: Path) -> None:
        self.port, self.store, self.process = free_port(), store, None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
                                         str(self.store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    assert Path(NATS_SERVER).exists(), "nats-server is installed by `make services` (Debian's nats-server)"
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_nats_restart_loses_nothing_and_duplicates_nothing(new_world: Callable[..., World],
                                                             nats_server: NatsServer) -> None:
    """Messages stored in JetStream when it is killed (SIGKILL) are delivered after its restart;
    messages queued while it is away wait in the outbox and are published once it is back;
    invoices are accepted all along (the outbox is in the database)."""
    world = new_world(beneficiaries=80)
    through_nats(world, nats_server.url)
    with receivers(1) as (receiver,):
        receiver.secret = webhook(world, f"restart-{world.backend}", 1, receiver.port)
        sent = [send(world, f"R1-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 1, 3))]
        relay = world.platform.relay
        asyncio.run(relay.drain(world.platform.delivery.destinations(OPERATOR_SHELL)[0]))  # published, not consumed
        assert unacknowledged(world) == 3
        nats_server.kill()
        sent += [send(world, f"R2-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 1, 3))]
        passes(world, 2, 0.1)  # NATS away: publication fails, the messages wait in the outbox
        status = world.platform.delivery.status(OPERATOR_SHELL)[0]
        assert (status.pending, status.in_transit, status.dead) == (3, 3, 0)
        nats_server.start()
        receiver.start()
        passes(world, 80, 0.5, until=lambda: len(receiver.unique()) >= 6 and unacknowledged(world) == 0)
        numbers = sorted(m["data"]["invoice_number"] for m in receiver.unique().values())
        assert numbers == sorted(str(i["invoice_number"]) for i in sent)
        assert len(receiver.received) == 6  # each once
        status = world.platform.delivery.status(OPERATOR_SHELL)[0]
        assert (status.pending, status.in_transit, status.dead) == (0, 0, 0)
        with world.platform.uow(readonly=True) as tx:
            kept = [tx.outbox.message(mid) for mid in receiver.unique()]
        assert all(m is not None and m.state is MessageState.SENT and m.acknowledged_at for m in kept)
