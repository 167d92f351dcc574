"""Delivery with real receivers, on SQLite and PostgreSQL (services/delivery.py, services/relay.py):
an insurer's webhook receiver -- a real HTTP server checking Standard Webhooks signatures -- is
down for a simulated hour while invoices keep coming; another insurer's receiver gets its
messages on the first pass meanwhile; once back, the first receives every message, each once
after deduplication by ``webhook-id``, one invoice's in order. A receiver that refuses the
signature turns the message dead with the reason, and a replay delivers it; two relays at once
never hold one message together; an invoice whose messages cannot be written is not stored."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import World, fresh_patients
from tests.integration.test_invoice_lifecycle import send
from tierspayant.domain.errors import InvalidField
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.ports.delivery import Channel, Destination, MessageState


@dataclass
class Receiver:
    """A webhook receiver as an insurer would run one: verifies the signature (else 401),
    keeps what it got, by webhook-id."""

    port: int
    secret: str = ""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    Webhook(receiver.secret).verify(body, {k: v for k, v in self.headers.items()})
                except Exception:
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append((self.headers["webhook-id"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def unique(self) -> dict[str, dict[str, Any]]:
        """What it kept after deduplication by webhook-id (exactly once in effect)."""
        return dict(self.received)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receivers(count: int) -> Iterator[list[Receiver]]:
    made = [Receiver(free_port()) for _ in range(count)]
    try:
        yield made
    finally:
        for r in made:
            r.stop()


def webhook(world: World, name: str, insurer_id: int, port: int, kinds: tuple[str, ...] = (
        "invoice.adjudicated", "invoice.withdrawn")) -> str:
    made = world.platform.delivery.add(OPERATOR_SHELL, Destination(
        0, name, Channel.WEBHOOK, {"url": f"http://127.0.0.1:{port}/hooks"}, kinds, insurer_id, None))
    return made.secrets[0][0]


def passes(world: World, count: int, minutes: float, until: Callable[[], bool] | None = None) -> int:
    """``count`` relay passes, the clock ``minutes`` further before each; stops once ``until()``."""
    done = 0
    for _ in range(count):
        world.clock.advance(minutes=minutes)
        done += asyncio.run(world.platform.relay.once())
        if until is not None and until():
            break
    return done


def test_a_receiver_down_for_an_hour_gets_everything_once_and_in_order(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=150)  # its clock runs hours ahead: a platform of its own
    with receivers(2) as (down, up):
        down.secret = webhook(world, f"claims-1-{world.backend}", 1, down.port)
        up.secret = webhook(world, f"claims-2-{world.backend}", 2, up.port)
        up.start()  # insurer 1's receiver stays down for now
        optician = world.headers("optique.demo")
        first = [send(world, f"D1-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 1, 3))]
        second = [send(world, f"D2-{n}-{world.backend}", p) for n, p in enumerate(fresh_patients(world, 2, 3))]
        cancelled = world.client.post(f"/v1/invoices/{first[0]['invoice_number']}/cancel", headers=optician)
        assert cancelled.status_code == 200
        passes(world, 1, 0.1)
        # The other insurer is served at once, whatever the first one's state.
        assert sorted(m["data"]["invoice_number"] for m in up.unique().values()) == sorted(
            str(i["invoice_number"]) for i in second)
        passes(world, 60, 1)  # an hour down: retries with backoff, the circuit opens
        assert down.received == []
        status = {b.name: b for b in world.platform.delivery.status(OPERATOR_SHELL)}
        assert status[f"claims-1-{world.backend}"].pending == 4 and status[f"claims-2-{world.backend}"].pending == 0
        down.start()
        passes(world, 40, 5, until=lambda: len(down.unique()) >= 4)
        got = down.unique()
        assert len(got) == 4 and len(down.received) == len(got)  # nothing twice, even before dedup
        numbers = sorted(m["data"]["invoice_number"] for m in got.values() if m["type"] == "invoice.adjudicated")
        assert numbers == sorted(str(i["invoice_number"]) for i in first)
        # One invoice's messages in order: adjudicated, then withdrawn.
        mine = [m["type"] for _, m in down.received if m["data"]["invoice_number"] == first[0]["invoice_number"]]
        assert mine == ["invoice.adjudicated", "invoice.withdrawn"]
        # The insurer gets the member number it pays against; the body names nobody else.
        sample = next(iter(got.values()))["data"]
        assert set(sample["beneficiary"]) == {"member_number", "rank"} and "nir" not in json.dumps(sample)


def test_a_refused_signature_is_a_dead_letter_until_replayed(world: World) -> None:
    with receivers(1) as (receiver,):
        secret = webhook(world, f"strict-{world.backend}", 1, receiver.port)
        receiver.secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # not the one given
        receiver.start()
        send(world, f"S1-{world.backend}", fresh_patients(world, 1, 1)[0])
        passes(world, 1, 0.1)
        dead = [m for m in world.platform.delivery.dead(OPERATOR_SHELL) if m.last_error == "answered 401"]
        assert len(dead) == 1 and dead[0].state is MessageState.DEAD and receiver.received == []
        receiver.secret = secret  # the receiver fixed
        world.platform.delivery.replay(OPERATOR_SHELL, dead[0].message_id)
        passes(world, 1, 0.1)
        assert list(receiver.unique()) == [dead[0].message_id]


def test_two_relays_never_deliver_one_message_at_once(world: World) -> None:
    from dataclasses import replace

    with receivers(1) as (receiver,):
        receiver.secret = webhook(world, f"pair-{world.backend}", 1, receiver.port)
        receiver.start()
        for n, patient in enumerate(fresh_patients(world, 1, 6)):
            send(world, f"P{n}-{world.backend}", patient)
        one, two = world.platform.relay, replace(world.platform.relay, owner="second-relay", breakers={})

        async def both() -> None:
            await asyncio.gather(one.once(), two.once(), one.once(), two.once())

        asyncio.run(both())
        passes(world, 3, 0.1)
        assert len(receiver.unique()) == 6 and len(receiver.received) == 6


def test_bad_settings_are_refused_when_given(world: World, tmp_path: Path) -> None:
    cases = [(Channel.WEBHOOK, {"url": "ftp://claims.example/x"}), (Channel.WEBHOOK, {"url": "http://claims.example/x"}),
             (Channel.FILE, {"directory": str(tmp_path / "missing")}), (Channel.FILE, {"directory": "relative/dir"}),
             (Channel.EMAIL, {"host": "127.0.0.1", "port": 25, "sender": "x", "to": "a@b.fr"}),
             (Channel.SMS, {"url": "https://sms.example", "to": "0612345678"})]
    for n, (channel, config) in enumerate(cases):
        with pytest.raises(InvalidField) as refused:
            world.platform.delivery.add(OPERATOR_SHELL, Destination(
                0, f"bad-{n}-{world.backend}", channel, config, ("invoice.adjudicated",), 1, None))
        assert refused.value.field == "config" and refused.value.message
    with pytest.raises(InvalidField) as kinds:
        world.platform.delivery.add(OPERATOR_SHELL, Destination(
            0, f"bad-kind-{world.backend}", Channel.FILE, {"directory": str(tmp_path)}, ("everything",), 1, None))
    assert kinds.value.field == "kinds"


def test_the_operator_manages_delivery_over_http_and_an_invoice_shows_its_delivery(world: World,
                                                                                     tmp_path: Path) -> None:
    admin = world.headers("admin.demo")
    drop = tmp_path / "drop"
    drop.mkdir()
    name = f"files-{world.backend}"
    made = world.client.post("/v1/delivery/destinations", headers=admin, json={
        "name": name, "channel": "file", "kinds": ["invoice.adjudicated"], "config": {"directory": str(drop)},
        "insurer_id": 1})
    assert made.status_code == 201, made.text
    assert made.json()["secret"] is None  # files are not signed
    refused = world.client.post("/v1/delivery/destinations", headers=admin, json={
        "name": f"bad-{world.backend}", "channel": "webhook", "kinds": ["invoice.adjudicated"],
        "config": {"url": "http://claims.example/hooks"}, "insurer_id": 1})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "config"
    assert world.client.get("/v1/delivery/status", headers=world.headers("optique.demo")).status_code == 403

    sent = send(world, f"H1-{world.backend}", fresh_patients(world, 1, 1)[0])
    optician = world.headers("optique.demo")
    queued = world.client.get(f"/v1/invoices/{sent['invoice_number']}", headers=optician).json()["delivery"]
    mine = [d for d in queued if d["kind"] == "invoice.adjudicated" and d["to"] == "insurer"]
    assert mine and {d["state"] for d in mine} == {"pending"}
    passes(world, 1, 0.1)
    delivered = world.client.get(f"/v1/invoices/{sent['invoice_number']}", headers=optician).json()["delivery"]
    assert {d["state"] for d in delivered if d["to"] == "insurer"} >= {"sent"}
    files = list(drop.glob("msg_*.json"))
    assert files and all(json.loads(f.read_text())["type"] == "invoice.adjudicated" for f in files)
    assert not list(drop.glob(".*.tmp"))  # written atomically: no temporary file left
    paused = world.client.put(f"/v1/delivery/destinations/{name}/paused", headers=admin, json={"paused": True})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    status = {row["destination"]: row for row in world.client.get("/v1/delivery/status", headers=admin).json()}
    assert status[name]["paused"] is True
    assert world.client.put("/v1/delivery/destinations/nobody/paused", headers=admin,
                            json={"paused": True}).status_code == 404


def test_no_invoice_without_its_messages(new_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    """The fact and its messages commit together: when the outbox cannot be written, the
    invoice is not stored either (and sent again, it is accepted with its messages)."""
    from tierspayant.store.delivery import SqlOutbox

    world = new_world(beneficiaries=60)
    world.platform.delivery.add(OPERATOR_SHELL, Destination(
        0, "drop", Channel.FILE, {"directory": str(tmp_path)}, ("invoice.adjudicated",), 1, None))
    patient = fresh_patients(world, 1, 1)[0]
    real = SqlOutbox.add_messages

    def broken(self: SqlOutbox, messages: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(SqlOutbox, "add_messages", broken)
    with pytest.raises((RuntimeError, AssertionError)):  # the test client re-raises the server's error
        send(world, "F-ATOMIC", patient)
    monkeypatch.setattr(SqlOutbox, "add_messages", real)
    optician = world.headers("optique.demo")
    assert world.client.get("/v1/invoices/F-ATOMIC", headers=optician).status_code == 404  # not stored
    stored = send(world, "F-ATOMIC-2", fresh_patients(world, 1, 1)[0])
    delivery = world.client.get(f"/v1/invoices/{stored['invoice_number']}", headers=optician).json()["delivery"]
    assert [(d["kind"], d["state"]) for d in delivery] == [("invoice.adjudicated", "pending")]


def test_twenty_identical_concurrent_submissions_get_one_answer(new_world: Callable[..., World]) -> None:
    """An identical resubmission always gets the first answer (issue 16, point 6), under
    concurrency too: 20 threads send the same invoice at once; one invoice, one answer. (One
    session has at most 8 requests in flight by default -- api/rate_gate.py: beyond, a 429 --
    so this platform allows 20.)"""
    from concurrent.futures import ThreadPoolExecutor

    world = new_world(beneficiaries=60, session_in_flight=32)
    from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines

    headers = world.headers("optique.demo")
    patient = fresh_patients(world, 1, 1)[0]
    pec = world.client.post("/v1/quotes", headers=headers, json={
        "engagement_number": engagement(world, headers, patient), "kind": "pec", "lines": GLASSES}).json()
    body = {"invoice_number": f"F-RACE-{world.backend}", "pec_number": pec["number"],
            "date_of_care": world.clock.now().date().isoformat(), "lines": invoice_lines(GLASSES, pec)}
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: world.client.post("/v1/invoices", headers=headers, json=body), range(20)))
    assert sorted({a.status_code for a in answers}) in ([200, 201], [201]), [a.text for a in answers if a.status_code >= 400][:1]
    assert sum(a.status_code == 201 for a in answers) == 1
    bodies = {json.dumps({k: v for k, v in a.json().items() if k != "delivery"}, sort_keys=True) for a in answers}
    assert len(bodies) == 1  # the same answer, twenty times
