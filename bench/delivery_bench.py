"""Outbound delivery (issue 16; docs/ARCHITECTURE.md, "Delivery"): how fast the transactional
outbox and its relay carry messages to real webhook receivers, on SQLite, on PostgreSQL and
through NATS JetStream, measured in one run:

1. throughput: N messages queued in the outbox for several insurers' receivers, then the relay
   run until every one is acknowledged -- ``relay.run`` with its defaults (what ``tiers serve``
   and ``tiers relay`` do), and ``relay.once`` back to back (the relay's own pace, without the
   pause between beats), with 1 destination and with several;
2. commit-to-delivery latency p50/p99, the relay running with its defaults, messages committed
   one per transaction at a steady rate by another process, measured at the receiver;
3. the drain of one insurer's hour of backlog at the demo's rate (simulate/traffic.py), once its
   destination is resumed, and once its receiver is back after an outage;
4. the rights check's throughput with the relay on vs off (``tiers serve``, TIERS_RELAY), servers
   alternated, while another process keeps queueing messages to live receivers (bench/http_bench.py's
   wrk and scripts).

    .venv/bin/python -m bench.delivery_bench [--parts throughput,latency,backlog,rights]
        [--backends sqlite,postgres,nats] [--messages 5000] [--repeats 2]

The receivers are a separate process (asyncio HTTP/1.1, 204 to every POST, webhook-ids counted,
signatures not checked); synthetic data only; writes bench/DELIVERY-RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

from bench.databases import ADMIN_URL, fresh_postgres
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.delivery import message_id, queue
from tierspayant.services.ports.delivery import Channel, Destination
from tierspayant.store import tables as t

ROOT = Path(__file__).resolve().parent.parent
KIND = "invoice.adjudicated"
NATS_URL = "nats://127.0.0.1:4222"
#: `tiers simulate`'s default population (cli/simulate.py): the demo's traffic.
DEMO_PROFESSIONALS = 600
M = t.outbox_messages.c
SPAWN = multiprocessing.get_context("spawn")  # the children build their own engines: no fork of ours


# -- The receivers: a process of their own, as an insurer's system would be ------------------


class _Inbox:
    """What the receivers got: (port, webhook-id, time received) in arrival order, and which
    ports answer 503 for now (a receiver "down": the relay retries, its circuit opens)."""

    def __init__(self) -> None:
        self.log: list[tuple[int, str, float]] = []
        self.down: set[int] = set()

    def control(self, path: str) -> tuple[int, bytes]:
        verb, _, arg = path.strip("/").partition("/")
        if verb == "stats":
            ids = Counter(i for _, i, _ in self.log)
            body = {"received": len(self.log), "unique": len(ids), "twice": sum(1 for n in ids.values() if n > 1),
                    "per_port": Counter(str(p) for p, _, _ in self.log)}
            return 200, json.dumps(body).encode()
        if verb == "log":
            return 200, json.dumps(self.log).encode()
        if verb == "reset":
            self.log.clear()
        elif verb == "down":
            self.down.add(int(arg))
        elif verb == "up":
            self.down.discard(int(arg))
        return 204, b""


async def _connection(inbox: _Inbox, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One keep-alive connection: the relay's httpx client reuses it for every message."""
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = dict((k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in head[1:] if h))
            await reader.readexactly(int(headers.get("content-length", "0")))
            if port == 0:  # the control port
                status, body = inbox.control(path)
            elif port in inbox.down:
                status, body = 503, b""
            else:
                inbox.log.append((port, headers.get("webhook-id", ""), time.time()))
                status, body = 204, b""
            reason = {200: "OK", 204: "No Content", 503: "Service Unavailable"}[status]
            length = f"content-length: {len(body)}\r\n" if status != 204 else ""
            writer.write(f"HTTP/1.1 {status} {reason}\r\n{length}\r\n".encode() + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
        pass
    finally:
        writer.close()


def _serve_receivers(ports: list[int], control: int, ready: Any) -> None:
    async def main() -> None:
        inbox = _Inbox()
        for port in ports:
            await asyncio.start_server(partial(_connection, inbox, port), "127.0.0.1", port, backlog=512)
        await asyncio.start_server(partial(_connection, inbox, 0), "127.0.0.1", control)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receivers:
    """``count`` webhook receivers (one port each) in a child process, and its control port."""

    def __init__(self, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.control_port = free_port()
        self.process: Any = None

    def __enter__(self) -> Receivers:
        ready = SPAWN.Event()
        self.process = SPAWN.Process(target=_serve_receivers, args=(self.ports, self.control_port, ready), daemon=True)
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("the receivers did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.join(10)

    def ask(self, verb: str) -> Any:
        answer = httpx.get(f"http://127.0.0.1:{self.control_port}/{verb}", timeout=30)
        return answer.json() if answer.status_code == 200 else None

    def stats(self) -> dict[str, Any]:
        return dict(self.ask("stats"))

    def log(self) -> list[tuple[int, str, float]]:
        return [(int(p), str(i), float(at)) for p, i, at in self.ask("log")]


# -- A platform for one measurement ----------------------------------------------------------


@dataclass
class Bed:
    """One measurement's platform: a fresh database, one destination per insurer (insurer n's
    receiver on ``ports[n - 1]``), maybe a JetStream stream of its own."""

    backend: str
    settings: Settings
    platform: Platform
    destinations: dict[int, Destination]  # by insurer id
    postgres_name: str | None = None

    @property
    def child_settings(self) -> dict[str, Any]:
        """What another process needs to build the same platform (same keys, same database)."""
        return {"database_url": self.settings.database_url, "var_dir": str(self.settings.var_dir),
                "delivery_transport": self.settings.delivery_transport,
                "delivery_stream": self.settings.delivery_stream}

    def close(self) -> None:
        self.platform.engine.dispose()
        if self.postgres_name:
            drop_postgres(self.postgres_name)
        shutil.rmtree(self.settings.var_dir, ignore_errors=True)


def drop_postgres(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_bed(backend: str, ports: Sequence[int], nats_store: str) -> Bed:
    """``backend``: sqlite, postgres, or nats (JetStream between the outbox and the receivers,
    over a ``nats_store`` database)."""
    store = nats_store if backend == "nats" else backend
    var = Path(tempfile.mkdtemp(prefix="tiers-delivery-bench-"))
    name = f"delivery_bench_{uuid.uuid4().hex[:8]}" if store == "postgres" else None
    url = fresh_postgres(name=name) if name else f"sqlite:///{var / 'tiers.db'}"
    settings = Settings(database_url=url, var_dir=var,
                        delivery_transport=NATS_URL if backend == "nats" else "",
                        # a stream of this run's own, deleted at its end (forget)
                        delivery_stream=f"BENCH_{uuid.uuid4().hex[:12]}")
    platform = build(settings)
    # Synthetic insurers, nothing else: the outbox is all this measures.
    platform.loader.insert("insurers", [{"id": n, "amc_number": f"98{n:07d}", "name": f"Assureur de banc {n}"}
                                        for n in range(1, len(ports) + 1)])
    destinations = {}
    for n, port in enumerate(ports, start=1):
        destinations[n] = platform.delivery.add(OPERATOR_SHELL, Destination(
            0, f"insurer-{n}", Channel.WEBHOOK, {"url": f"http://127.0.0.1:{port}/hooks"}, (KIND,), n, None))
    return Bed(backend, settings, platform, destinations, name)


def label(backend: str, nats_store: str) -> str:
    return {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(backend) or f"NATS JetStream ({nats_store})"


# -- Queueing -------------------------------------------------------------------------------


def _payload(ref: str) -> Callable[[Destination], dict[str, Any]]:
    """What an insurer's system gets of an adjudicated invoice (services/announcements.py)."""
    def payload(_: Destination) -> dict[str, Any]:
        return {"invoice_id": ref, "invoice_number": f"F-{ref}", "status": "approved", "date_of_care": "2026-11-20",
                "category": "pharmacy", "claimed_amc": "3.50", "approved_amc": "3.50", "reasons": [],
                "review_decision": None, "beneficiary": {"member_number": "M0012345", "rank": 1},
                "professional": {"rpps": "10000000001", "adeli": None, "am_number": "751234567"}}
    return payload


def queue_facts(platform: Platform, facts: Sequence[tuple[str, int]]) -> None:
    """Queue one message per (ref, insurer) fact, in one transaction, as a fact's own would."""
    at = platform.clock.now()
    with platform.uow() as tx:
        for ref, insurer in facts:
            queue(tx, KIND, ref, at, insurer_id=insurer, payload=_payload(ref))


def queue_many(bed: Bed, facts: Sequence[tuple[str, int]], batch: int = 200) -> float:
    """Queue ``facts`` in transactions of ``batch``; messages/s."""
    started = time.perf_counter()
    for start in range(0, len(facts), batch):
        queue_facts(bed.platform, facts[start:start + batch])
    return len(facts) / (time.perf_counter() - started)


def spread(prefix: str, count: int, insurers: Sequence[int]) -> list[tuple[str, int]]:
    """``count`` facts, round-robin over ``insurers``."""
    return [(f"{prefix}:{n}", insurers[n % len(insurers)]) for n in range(count)]


def _steady_queuer(settings: dict[str, Any], targets: list[tuple[int, int]], rate: float, count: int,
                   out: str | None, stop: Any) -> None:
    """Another process, as the API's workers would be: one fact per transaction at ``rate``/s,
    round-robin over ``targets`` (insurer, destination id), ``count`` of them (0: until ``stop``);
    each message's commit time (wall clock, as the receivers read it) written to ``out``."""
    platform = build(Settings(**settings), migrate=False)
    committed: dict[str, float] = {}
    started, n, tag = time.perf_counter(), 0, uuid.uuid4().hex[:6]
    while (count == 0 or n < count) and not stop.is_set():
        time.sleep(max(0.0, started + n / rate - time.perf_counter()))
        insurer, destination = targets[n % len(targets)]
        ref = f"steady:{tag}:{n}"
        queue_facts(platform, [(ref, insurer)])
        committed[message_id(KIND, ref, destination)] = time.time()
        n += 1
    if out:
        Path(out).write_text(json.dumps(committed))
    platform.engine.dispose()


def start_queuer(bed: Bed, rate: float, count: int, out: Path | None) -> tuple[Any, Any]:
    targets = [(insurer, d.id) for insurer, d in bed.destinations.items()]
    stop = SPAWN.Event()
    process = SPAWN.Process(target=_steady_queuer, args=(bed.child_settings, targets, rate, count,
                                                         str(out) if out else None, stop), daemon=True)
    process.start()
    return process, stop


# -- Reading the outbox ---------------------------------------------------------------------


def acknowledged(bed: Bed) -> int:
    """Messages sent and acknowledged by their destination (with a transport: later than sent)."""
    with bed.platform.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.outbox_messages).where(
            M.state == "sent", M.acknowledged_at.is_not(None))).scalar_one())


def states(bed: Bed) -> dict[str, int]:
    """The outbox by state (``in transit``: sent, not yet acknowledged) and the attempts made."""
    with bed.platform.engine.connect() as conn:
        rows = conn.execute(select(M.state, M.acknowledged_at.is_(None), func.count(), func.sum(M.attempts))
                            .group_by(M.state, M.acknowledged_at.is_(None))).all()
    out: Counter[str] = Counter()
    for state, unacked, count, attempts in rows:
        out["in transit" if state == "sent" and unacked else state] += count
        out["attempts"] += int(attempts or 0)
    return dict(out)


class Stuck(RuntimeError):
    """No message acknowledged for a while though some are missing: a stuck queue."""


async def until_acknowledged(bed: Bed, total: int, beat: Callable[[], Any], stall: float = 60.0) -> float:
    """Run ``beat`` (a relay pass, or a sleep while the relay runs) until ``total`` messages are
    acknowledged; seconds taken. Raises Stuck after ``stall`` seconds without progress."""
    started = last = time.perf_counter()
    done = 0
    while done < total:
        await beat()
        now_done = await asyncio.to_thread(acknowledged, bed)
        if now_done > done:
            done, last = now_done, time.perf_counter()
        elif time.perf_counter() - last > stall:
            raise Stuck(f"{done}/{total} acknowledged, none for {stall:.0f} s: {states(bed)}")
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def relay_running(bed: Bed, poll: float = 0.5) -> Any:
    """The relay as ``tiers relay`` runs it (poll: its default, 0.5 s), and at the end the
    run's JetStream stream deleted."""
    stop = asyncio.Event()
    task = asyncio.create_task(bed.platform.relay.run(stop, poll=poll))
    try:
        yield
    finally:
        stop.set()
        await task
        await forget(bed)


async def forget(bed: Bed) -> None:
    transport = bed.platform.relay.transport
    if transport is not None:
        with contextlib.suppress(Exception):
            await transport.forget()  # type: ignore[attr-defined]


async def _sleep() -> None:
    await asyncio.sleep(0.1)


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def checked(receivers: Receivers, total: int) -> dict[str, Any]:
    """What the receivers got: every message once, none twice?"""
    got = receivers.stats()
    got["ok"] = got["unique"] == total and got["received"] == total
    return got


# -- 1. Throughput --------------------------------------------------------------------------


@dataclass
class Throughput:
    backend: str
    mode: str
    destinations: int
    messages: int
    queued_per_s: float
    seconds: float
    attempts: int = 0  # recorded in the outbox: with a transport, its deliveries of each message
    received: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    @property
    def per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def throughput_run(backend: str, nats_store: str, destinations: int, messages: int, mode: str) -> Throughput:
    with Receivers(destinations) as receivers:
        bed = make_bed(backend, receivers.ports, nats_store)
        try:
            queued = queue_many(bed, spread("tp", messages, list(bed.destinations)))

            async def drain() -> float:
                if mode == "once":
                    try:
                        return await until_acknowledged(bed, messages, bed.platform.relay.once)
                    finally:
                        await forget(bed)
                async with relay_running(bed):
                    return await until_acknowledged(bed, messages, _sleep)

            result = Throughput(label(backend, nats_store), mode, destinations, messages, queued, 0.0)
            try:
                result.seconds = asyncio.run(drain())
            except Stuck as exc:
                result.problem = str(exc)
            result.attempts = states(bed).get("attempts", 0)
            result.received = checked(receivers, messages)
            return result
        finally:
            bed.close()


def throughput(args: argparse.Namespace) -> list[Throughput]:
    results = []
    for backend in args.backends:
        for repeat in range(args.repeats):
            # One destination alone gets the share each of the several had: what it does on its own.
            share = args.messages // args.destinations
            for mode, destinations, messages in (("run", args.destinations, args.messages), ("run", 1, share),
                                                 ("once", args.destinations, args.messages), ("once", 1, share)):
                r = throughput_run(backend, args.nats_store, destinations, messages, mode)
                print(f"throughput {r.backend} relay.{mode}, {destinations} destination(s), run {repeat + 1}: "
                      f"{r.messages:,} queued at {r.queued_per_s:,.0f}/s, delivered in {r.seconds:.1f} s = "
                      f"{r.per_s:,.0f} msg/s, {r.attempts / messages:.2f} attempts a message; receivers "
                      f"{r.received} {r.problem}", flush=True)
                results.append(r)
    return results


# -- 2. Commit-to-delivery latency ----------------------------------------------------------


@dataclass
class Latency:
    backend: str
    poll: float
    samples: int
    p50: float
    p99: float
    worst: float
    attempts: int
    received: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def latency_run(backend: str, nats_store: str, destinations: int, rate: float, seconds: float,
                poll: float) -> Latency:
    count = int(rate * seconds)
    with Receivers(destinations) as receivers:
        bed = make_bed(backend, receivers.ports, nats_store)
        out = Path(bed.settings.var_dir) / "committed.json"
        try:
            async def measure() -> None:
                async with relay_running(bed, poll):
                    process, _ = start_queuer(bed, rate, count, out)
                    await asyncio.to_thread(process.join)
                    await until_acknowledged(bed, count, _sleep)

            problem = ""
            try:
                asyncio.run(measure())
            except Stuck as exc:
                problem = str(exc)
            committed = json.loads(out.read_text())
            first: dict[str, float] = {}
            for _, mid, at in receivers.log():
                first.setdefault(mid, at)
            late = [(first[m] - c) * 1000 for m, c in committed.items() if m in first]
            return Latency(label(backend, nats_store), poll, len(late), percentile(late, 50), percentile(late, 99),
                           max(late), states(bed).get("attempts", 0), checked(receivers, count), problem)
        finally:
            bed.close()


def latency(args: argparse.Namespace) -> list[Latency]:
    results = []
    polls = [0.5, *args.also_poll]
    for backend in args.backends:
        for poll in polls:
            for repeat in range(args.repeats):
                r = latency_run(backend, args.nats_store, args.destinations, args.rate, args.seconds, poll)
                print(f"latency {r.backend} poll {poll:g} s, run {repeat + 1}: {r.samples} messages, p50 {r.p50:.0f} ms, "
                      f"p99 {r.p99:.0f} ms, max {r.worst:.0f} ms, {r.attempts / max(1, r.samples):.2f} attempts a "
                      f"message; receivers {r.received} {r.problem}", flush=True)
                results.append(r)
    return results


# -- 3. An hour of one insurer's backlog ----------------------------------------------------


def demo_hour(professionals: int, seed: int = 42) -> tuple[int, float]:
    """One insurer's invoices in the demo's busiest hour, and its mean per opening hour (07:00
    to 21:00), from the simulator's own day (simulate/traffic.py): a doctor's or pharmacist's
    check followed by an invoice, an optician's quote whose patient comes back for the glasses
    (invoiced days later: counted on the day of the quote, the same rate in a steady state).
    Every check taken as covered (an upper bound); patients spread evenly over the three demo
    insurers, as the population's contracts are (simulate/population.py)."""
    from tierspayant.simulate.population import INSURERS
    from tierspayant.simulate.traffic import Patient, day_of_visits

    professions = ["optician", "general_practitioner", "pharmacist"] * (professionals // 3)
    patients = [Patient(INSURERS[n % len(INSURERS)][0], f"M{n}", "-", "1980-01-01") for n in range(3000)]
    visits = day_of_visits(random.Random(seed), professions, patients, date(2026, 11, 23))
    hours = Counter(v.at.hour for v in visits if v.patient.amc_number == INSURERS[0][0] and v.follow_up
                    and (v.category != "optical" or v.delivered_after is not None))
    return max(hours.values()), sum(hours.values()) / 14


@dataclass
class Backlog:
    backend: str
    how: str
    messages: int
    first: float  # seconds from the destination's return to its first message
    drained: float  # seconds from its return to the last one acknowledged
    attempts: int
    received: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def backlog_run(backend: str, nats_store: str, destinations: int, hour: int, how: str, outage: float) -> Backlog:
    """``how``: "paused" (the operator paused the destination, then resumes it) or "down" (its
    receiver answers 503 for ``outage`` seconds while the hour is queued: the relay retries and
    its circuit opens)."""
    with Receivers(destinations) as receivers:
        bed = make_bed(backend, receivers.ports, nats_store)
        port = receivers.ports[0]
        try:
            if how == "paused":
                bed.platform.delivery.set_paused(OPERATOR_SHELL, "insurer-1", True)
            else:
                receivers.ask(f"down/{port}")

            async def measure() -> float:
                async with relay_running(bed):
                    started = time.perf_counter()
                    await asyncio.to_thread(queue_many, bed, spread("hour", hour, [1]), 20)
                    await asyncio.sleep(max(1.0, outage - (time.perf_counter() - started)))
                    assert receivers.stats()["received"] == 0, "delivered while away"
                    back = time.time()
                    if how == "paused":
                        await asyncio.to_thread(bed.platform.delivery.set_paused, OPERATOR_SHELL, "insurer-1", False)
                    else:
                        receivers.ask(f"up/{port}")
                    await until_acknowledged(bed, hour, _sleep, stall=400)
                    return back

            result = Backlog(label(backend, nats_store), how, hour, 0.0, 0.0, 0)
            try:
                back = asyncio.run(measure())
                arrivals = [at for _, _, at in receivers.log()]
                result.first, result.drained = min(arrivals) - back, max(arrivals) - back
            except Stuck as exc:
                result.problem = str(exc)
            result.attempts = states(bed).get("attempts", 0)
            result.received = checked(receivers, hour)
            return result
        finally:
            bed.close()


def backlog(args: argparse.Namespace, hour: int) -> list[Backlog]:
    results = []
    for backend in args.backends:
        for how in ("paused", "down"):
            for repeat in range(args.repeats):
                r = backlog_run(backend, args.nats_store, args.destinations, hour, how, args.outage)
                print(f"backlog {r.backend} {how}, run {repeat + 1}: {r.messages} messages, first after "
                      f"{r.first:.1f} s, all acknowledged after {r.drained:.1f} s, {r.attempts} attempts; "
                      f"receivers {r.received} {r.problem}", flush=True)
                results.append(r)
    return results


# -- 4. The rights check, relay on vs off ---------------------------------------------------


@dataclass
class RightsRound:
    relay: bool
    rights: float
    health: float
    delivered_per_s: float  # at the receivers during the rights check's wrk run

    @property
    def ratio(self) -> float:
        return self.rights / self.health


def pending(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox_messages)
                                    .where(M.state == "pending")).scalar_one())
    finally:
        engine.dispose()


def rights_round(env: dict[str, str], relay: bool, receivers: Receivers, today: str, connections: int,
                 seconds: int, rate: float) -> RightsRound:
    from bench import http_bench as hb

    server = subprocess.Popen([hb.BIN / "tiers", "serve", "--port", str(hb.PORT)],
                              env={**env, "TIERS_RELAY": "true" if relay else "false"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hb.wait_ready()
        if relay:  # what piled up while the relay was off goes first: measure the steady state
            deadline = time.monotonic() + 120
            while pending(env["TIERS_DATABASE_URL"]) > rate and time.monotonic() < deadline:
                time.sleep(0.5)
        work = Path(env["TIERS_VAR_DIR"])
        demo = json.loads((work / "demo-credentials.json").read_text())
        bodies = work / "delivery-bodies.jsonl"
        bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                  for p in demo["patients"]))
        script = work / "delivery-rights.lua"
        script.write_text(hb.LUA % {"bodies": bodies, "token": hb.sign_in(env, "optique.demo")})
        common = ["-t2", f"-c{connections}", f"-d{seconds}s"]
        before = receivers.stats()["received"]
        rights = hb.wrk([*common, "-s", str(script), hb.BASE])
        delivered = (receivers.stats()["received"] - before) / seconds
        health = hb.wrk([*common, f"{hb.BASE}/v1/health"])
        if rights["non2xx"] or health["non2xx"]:
            print(f"  non-2xx answers: rights {rights['non2xx']:.0f}, health {health['non2xx']:.0f}", flush=True)
        return RightsRound(relay, rights["rps"], health["rps"], delivered)
    finally:
        server.terminate()
        server.wait(20)


def rights(args: argparse.Namespace) -> list[tuple[float, list[RightsRound], dict[str, Any]]]:
    """Each of ``--rights-rate``'s rates of messages queued meanwhile: its rounds."""
    return [(rate, *rights_at(args, rate)) for rate in args.rights_rate]


def rights_at(args: argparse.Namespace, rate: float) -> tuple[list[RightsRound], dict[str, Any]]:
    from bench import http_bench as hb

    work = Path(tempfile.mkdtemp(prefix="tiers-delivery-rights-"))
    env = {**os.environ, "TIERS_VAR_DIR": str(work), "TIERS_WORKERS": "2", **hb.UNLIMITED,
           "TIERS_DATABASE_URL": f"sqlite:///{work / 'bench.db'}"}
    name = None
    if args.rights_store == "postgres":
        name = f"delivery_rights_{uuid.uuid4().hex[:8]}"
        env["TIERS_DATABASE_URL"] = fresh_postgres(name=name)
    subprocess.run([hb.BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    today = datetime.now(UTC).date().isoformat()
    rounds: list[RightsRound] = []
    with Receivers(3) as receivers:  # the demo's three insurers
        settings = Settings.from_env(env)
        platform = build(settings, migrate=False)
        targets = [(n, platform.delivery.add(OPERATOR_SHELL, Destination(
            0, f"insurer-{n}", Channel.WEBHOOK, {"url": f"http://127.0.0.1:{port}/hooks"}, (KIND,), n, None)).id)
            for n, port in enumerate(receivers.ports, start=1)]
        platform.engine.dispose()
        stop = SPAWN.Event()
        queuer = SPAWN.Process(target=_steady_queuer, args=(
            {"database_url": settings.database_url, "var_dir": str(settings.var_dir)}, targets, rate, 0,
            None, stop), daemon=True)
        queuer.start()
        try:
            for n in range(args.rounds):
                # Each round's order swapped: a drift of the machine does not favour one side.
                for relay in (True, False) if n % 2 == 0 else (False, True):
                    r = rights_round(env, relay, receivers, today, args.connections, args.wrk_seconds, rate)
                    print(f"rights at {rate:g} msg/s, round {n + 1}, relay {'on' if relay else 'off'}: rights {r.rights:,.0f} req/s, "
                          f"health {r.health:,.0f} req/s, ratio {r.ratio:.1%}, delivered {r.delivered_per_s:.0f} msg/s "
                          "meanwhile", flush=True)
                    rounds.append(r)
        finally:
            stop.set()
            queuer.join(30)
        got = receivers.stats()
    got["pending at the end"] = pending(env["TIERS_DATABASE_URL"])
    if name:
        drop_postgres(name)
    shutil.rmtree(work, ignore_errors=True)
    return rounds, got


# -- The report -----------------------------------------------------------------------------


def _spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in values)


def report(args: argparse.Namespace, command: str, took: float, parts: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Delivery benchmark\n\nMeasured {when} on this machine ({os.cpu_count()} cores, shared: other "
           f"processes may have run meanwhile), loopback, in {took / 60:.1f} min. Command: `{command}`.\n"]
    if "throughput" in parts:
        out.append(render_throughput(args, parts["throughput"]))
    if "latency" in parts:
        out.append(render_latency(args, parts["latency"]))
    if "backlog" in parts:
        out.append(render_backlog(args, *parts["backlog"]))
    if "rights" in parts:
        out.append(render_rights_intro(args))
        out.extend(render_rights(rate, *got) for rate, *got in parts["rights"])
    return "\n".join(out)


def _grouped(rows: Sequence[Any], key: Callable[[Any], tuple[Any, ...]]) -> dict[tuple[Any, ...], list[Any]]:
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def render_throughput(args: argparse.Namespace, rows: list[Throughput]) -> str:
    lines = [f"## 1. Throughput\n\n{args.messages:,} messages queued in the outbox (transactions of 200), spread over "
             "the destinations (one webhook receiver each), then the relay run until every one is sent and "
             "acknowledged (`outbox_messages.acknowledged_at`). `relay.run`: the relay as `tiers relay` and `tiers "
             "serve` run it (poll 0.5 s); `relay.once` back to back: the relay's own pace. Each row: every run of it "
             "(`a / b`).\n",
             "| transport / store | relay | destinations | messages | queued msg/s | delivered msg/s | attempts a message | received once each |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for (backend, mode, d), runs in _grouped(rows, lambda r: (r.backend, r.mode, r.destinations)).items():
        ok = all(r.received.get("ok") for r in runs) and not any(r.problem for r in runs)
        lines.append(f"| {backend} | `{mode}` | {d} | {runs[0].messages:,} | {_spread([r.queued_per_s for r in runs])} | "
                     f"{_spread([r.per_s for r in runs])} | {_spread([r.attempts / r.messages for r in runs], '{:.2f}')} | "
                     f"{'yes' if ok else 'NO: ' + '; '.join(r.problem or str(r.received) for r in runs)} |")
    return "\n".join(lines) + "\n"


def render_latency(args: argparse.Namespace, rows: list[Latency]) -> str:
    lines = [f"## 2. Commit-to-delivery latency\n\nThe relay running (`relay.run`), another process committing "
             f"{args.rate:g} messages/s, one per transaction, round-robin over {args.destinations} destinations, for "
             f"{args.seconds:g} s; latency = time received at the receiver - time the queuing transaction committed "
             "(wall clocks of one machine).\n",
             "| transport / store | poll | messages | p50 ms | p99 ms | max ms | attempts a message |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for (backend, poll), runs in _grouped(rows, lambda r: (r.backend, r.poll)).items():
        lines.append(f"| {backend} | {poll:g} s{' (default)' if poll == 0.5 else ''} | "
                     f"{_spread([r.samples for r in runs])} | {_spread([r.p50 for r in runs])} | "
                     f"{_spread([r.p99 for r in runs])} | {_spread([r.worst for r in runs])} | "
                     f"{_spread([r.attempts / max(1, r.samples) for r in runs], '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def render_backlog(args: argparse.Namespace, hour: int, mean: float, rows: list[Backlog]) -> str:
    lines = [f"## 3. One insurer's hour of backlog\n\nThe demo's rate: {hour} invoices in insurer 1's busiest hour "
             f"({mean:.0f} an hour on average over 07:00-21:00), from `tiers simulate`'s default traffic "
             f"({DEMO_PROFESSIONALS} professionals, seed 42, simulate/traffic.py; every check taken as covered). That "
             f"hour queued for insurer 1 while its destination is paused (then resumed with `set_paused`), or while "
             f"its receiver answers 503 for {args.outage:g} s (then 204 again); the other destinations idle; the relay "
             "running with its defaults throughout. Times from the return.\n",
             "| transport / store | away as | messages | first delivered after s | all acknowledged after s | attempts | received once each |",
             "|---|---|---:|---:|---:|---:|---|"]
    for (backend, how), runs in _grouped(rows, lambda r: (r.backend, r.how)).items():
        ok = all(r.received.get("ok") for r in runs) and not any(r.problem for r in runs)
        lines.append(f"| {backend} | {how} | {runs[0].messages} | {_spread([r.first for r in runs], '{:.1f}')} | "
                     f"{_spread([r.drained for r in runs], '{:.1f}')} | {_spread([r.attempts for r in runs])} | "
                     f"{'yes' if ok else 'NO: ' + '; '.join(r.problem or str(r.received) for r in runs)} |")
    return "\n".join(lines) + "\n"


def render_rights_intro(args: argparse.Namespace) -> str:
    return (f"## 4. The rights check, relay on vs off\n\n`tiers serve` (granian, 2 workers) on "
            f"{'PostgreSQL' if args.rights_store == 'postgres' else 'SQLite'}, {args.beneficiaries:,} synthetic "
            "beneficiaries (`tiers seed`), destinations for the demo's 3 insurers; TIERS_RELAY=true vs false, "
            "servers alternated (the order swapped each round); another process queueing messages at a steady rate "
            f"throughout (both sides); each round: wrk -t2 -c{args.connections} -d{args.wrk_seconds}s on "
            "POST /v1/rights-checks (bench/http_bench.py's script), then on GET /v1/health, the same server. With "
            "the relay on, each round starts once what piled up while it was off is delivered. The demo's three "
            "insurers together make about 0.3 messages/s in their busiest hour (section 3): 5 msg/s is fifteen "
            "times that; 50 msg/s, a stress.\n")


def render_rights(rate: float, rounds: list[RightsRound], got: dict[str, Any]) -> str:
    lines = [f"### {rate:g} messages/s queued meanwhile\n",
             "| round | relay | rights req/s | health req/s | rights / health | delivered msg/s meanwhile |",
             "|---:|---|---:|---:|---:|---:|"]
    for n, r in enumerate(rounds):
        lines.append(f"| {n // 2 + 1} | {'on' if r.relay else 'off'} | {r.rights:,.0f} | {r.health:,.0f} | "
                     f"{r.ratio:.1%} | {r.delivered_per_s:.0f} |")
    on = [r for r in rounds if r.relay]
    off = [r for r in rounds if not r.relay]
    rights_cost = 1 - statistics.median(r.rights for r in on) / statistics.median(r.rights for r in off)
    ratio_cost = 1 - statistics.median(r.ratio for r in on) / statistics.median(r.ratio for r in off)
    lines.append(f"\nMedians: rights check {statistics.median(r.rights for r in on):,.0f} req/s with the relay vs "
                 f"{statistics.median(r.rights for r in off):,.0f} without: **it costs {rights_cost:.1%}** (aim <= 5 %); "
                 f"by the ratio to the same server's trivial endpoint: {ratio_cost:.1%}. Receivers at the end: "
                 f"{got['received']:,} received, {got['unique']:,} unique, {got['pending at the end']:,} pending.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="throughput,latency,backlog,rights")
    parser.add_argument("--backends", default="sqlite,postgres,nats", help="sqlite, postgres, nats")
    parser.add_argument("--nats-store", choices=("sqlite", "postgres"), default="postgres",
                        help="The database behind the NATS runs (several nodes share a PostgreSQL)")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of each measurement")
    parser.add_argument("--destinations", type=int, default=4, help="Insurers, one receiver each")
    parser.add_argument("--messages", type=int, default=5000, help="Messages per throughput run")
    parser.add_argument("--rate", type=float, default=40.0, help="Latency: messages committed per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="Latency: seconds of steady queueing")
    parser.add_argument("--also-poll", type=float, nargs="*", default=[0.05],
                        help="Latency: relay polls measured besides the default 0.5 s (what dominates)")
    parser.add_argument("--professionals", type=int, default=DEMO_PROFESSIONALS, help="Backlog: the demo's size")
    parser.add_argument("--outage", type=float, default=20.0, help="Backlog: seconds the receiver answers 503")
    parser.add_argument("--rounds", type=int, default=3, help="Rights: alternated rounds")
    parser.add_argument("--rights-store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rights-rate", type=float, nargs="+", default=[5.0, 50.0],
                        help="Rights: messages queued per second meanwhile (each rate measured)")
    parser.add_argument("--beneficiaries", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-seconds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "DELIVERY-RESULTS.md")
    args = parser.parse_args()
    # The relay's warnings (a claim, a publish or an outcome that failed) on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    args.backends = [b for b in args.backends.split(",") if b]
    wanted = [p for p in args.parts.split(",") if p]
    if "rights" in wanted and shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    command = "python -m bench.delivery_bench " + " ".join(sys.argv[1:])
    started = time.perf_counter()
    parts: dict[str, Any] = {}
    if "throughput" in wanted:
        parts["throughput"] = throughput(args)
    if "latency" in wanted:
        parts["latency"] = latency(args)
    if "backlog" in wanted:
        hour, mean = demo_hour(args.professionals)
        print(f"the demo's busiest hour for insurer 1: {hour} invoices (mean {mean:.0f}/h)", flush=True)
        parts["backlog"] = (hour, mean, backlog(args, hour))
    if "rights" in wanted:
        parts["rights"] = rights(args)
    text_ = report(args, command.strip(), time.perf_counter() - started, parts)
    args.out.write_text(text_)
    print("\n" + text_)


if __name__ == "__main__":
    main()
