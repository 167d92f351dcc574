"""The relay (docs/ARCHITECTURE.md, "Delivery"): carries the outbox to its destinations, each
destination on its own -- an insurer that is down piles up only its own messages, every other
destination is drained meanwhile.

For each destination: lease its due messages (the first pending one of each ordering key, so
one invoice's messages arrive in order), hand each to its channel's connector, record the
outcome. A message is retried with exponential backoff and full jitter (AWS Architecture Blog,
"Exponential Backoff And Jitter": a delay drawn uniformly in [0, min(cap, base * 2^attempt)]),
until its horizon passes: then it is dead (replayable). After ``breaker_failures`` failures in
a row a destination's circuit opens: it is left alone for a cool-down that doubles each time it
opens again, then one message probes it. A relay that dies mid-delivery loses nothing: its
lease expires and another relay (or itself, restarted) delivers the message again under the
same id, which the receiver deduplicates (exactly once in effect). Several relays may run: a
message is leased to one at a time (services/ports/delivery.py ``claim``).

With a transport (NATS JetStream, TIERS_DELIVERY_TRANSPORT), the same drain *publishes* each
message instead -- its id and generation only, the payload stays sealed in the database -- and
marks it sent once the transport has stored it; each destination's consumer then takes the
transport's messages one at a time (so in the order published: one invoice's in order), reads
the payload from the outbox, delivers it through the connector and records the destination's
acknowledgement before acknowledging the transport. A consumer killed mid-delivery leaves its
message unacknowledged: the transport hands it over again, and an acknowledged one is not
delivered twice. The database stays the source of truth: what the transport lost is still
``sent``-but-unacknowledged there (``tiers delivery status`` counts it in transit)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from tierspayant.services.ports import Clock, HasDestinations, HasOutbox, UnitOfWork
from tierspayant.services.ports.delivery import (
    Channel,
    Connector,
    Destination,
    Handoff,
    Message,
    MessageState,
    Receipt,
    Transport,
)

logger = logging.getLogger("tierspayant.relay")


class RelayStore(HasDestinations, HasOutbox, Protocol):
    """The ports the relay works with (services/ports/)."""


@dataclass(frozen=True, slots=True)
class RelaySettings:
    lease: timedelta = timedelta(seconds=60)
    batch: int = 20
    #: How long a message is tried before it is dead (TIERS_DELIVERY_HORIZON_HOURS).
    horizon: timedelta = timedelta(hours=72)
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=10)
    breaker_failures: int = 5
    breaker_cooldown: timedelta = timedelta(seconds=30)
    breaker_max_cooldown: timedelta = timedelta(minutes=5)
    #: One attempt's longest wait for the destination.
    attempt_timeout: float = 10.0
    #: How often the list of destinations is read again.
    refresh: timedelta = timedelta(seconds=5)
    #: With a transport: how many times it hands a message over before it is dead.
    max_deliver: int = 1000


def backoff(attempt: int, base: timedelta, cap: timedelta, rng: random.Random) -> timedelta:
    """Full jitter: uniform in [0, min(cap, base * 2^attempt)] (``attempt`` from 1)."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** min(attempt, 40))
    return timedelta(seconds=rng.uniform(0, ceiling))


@dataclass
class Breaker:
    """One destination's circuit: closed, open until a time, or half-open (one probe)."""

    failures: int = 0
    opened: int = 0  # how many times it opened in a row (the cool-down doubles)
    open_until: datetime | None = None

    def allows(self, now: datetime) -> int:
        """How many messages may be tried now: 0 while open, 1 for the probe, else any."""
        if self.open_until is None:
            return 1_000_000
        return 0 if now < self.open_until else 1

    def record(self, delivered: bool, now: datetime, settings: RelaySettings) -> None:
        if delivered:
            self.failures, self.opened, self.open_until = 0, 0, None
            return
        self.failures += 1
        if self.failures >= settings.breaker_failures or self.open_until is not None:
            cooldown = min(settings.breaker_max_cooldown, settings.breaker_cooldown * 2 ** self.opened)
            self.opened += 1
            self.open_until = now + cooldown


def envelope(message: Message) -> bytes:
    """The body every channel carries: the Standard Webhooks payload shape."""
    return json.dumps({"type": message.kind, "timestamp": message.created_at.isoformat(), "id": message.message_id,
                       "data": dict(message.payload)}, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Relay:
    uow: UnitOfWork[RelayStore]
    clock: Clock
    connectors: dict[Channel, Connector]
    settings: RelaySettings = field(default_factory=RelaySettings)
    owner: str = field(default_factory=lambda: f"{socket.gethostname()[:30]}:{uuid.uuid4().hex[:12]}")
    rng: random.Random = field(default_factory=random.Random)
    breakers: dict[int, Breaker] = field(default_factory=dict)
    #: None: the relay delivers from the outbox itself; else it publishes to the transport and
    #: each destination's consumer delivers.
    transport: Transport | None = None
    delivered: int = 0
    failed: int = 0

    def _destinations(self) -> list[Destination]:
        with self.uow(readonly=True) as tx:
            return list(tx.destinations.destinations())

    def _due(self) -> set[int] | None:
        """The destinations with something due (a read); None when unreadable (drain them all)."""
        try:
            with self.uow(readonly=True) as tx:
                return tx.outbox.due_destinations(self.clock.now())
        except Exception as exc:
            logger.warning("relay: outbox unreadable: %s", type(exc).__name__)
            return None

    async def run(self, stop: asyncio.Event, poll: float = 0.5) -> None:
        """Deliver until ``stop`` is set: each destination drained by its own task."""
        running: dict[tuple[int, str], asyncio.Task[int]] = {}
        destinations: list[Destination] = []
        refreshed: datetime | None = None
        while not stop.is_set():
            now = self.clock.now()
            if refreshed is None or not timedelta(0) <= now - refreshed < self.settings.refresh:
                try:
                    destinations = await asyncio.to_thread(self._destinations)
                    refreshed = now
                except Exception as exc:  # the database away for a moment: try again next beat
                    logger.warning("relay: destinations unreadable: %s", type(exc).__name__)
            # A beat with nothing due takes no write lock (on SQLite, the rights check's writer
            # would wait for an idle relay's claims otherwise: bench/DELIVERY-RESULTS.md).
            due = await asyncio.to_thread(self._due) if destinations else set()
            for destination in destinations:
                if destination.paused:
                    continue
                for role in ("drain", "consume") if self.transport is not None else ("drain",):
                    task = running.get((destination.id, role))
                    if role == "drain" and due is not None and destination.id not in due:
                        continue
                    if task is None or task.done():
                        running[destination.id, role] = asyncio.create_task(self._busy(destination, role, poll, stop))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
        for task in running.values():
            task.cancel()

    async def _busy(self, destination: Destination, role: str, poll: float, stop: asyncio.Event) -> int:
        """Drain (or consume) again at once while each pass fills its batch: a backlog goes at
        the relay's own pace, not one batch a beat; a pass short of its batch (nothing more due,
        a failure, the circuit open) waits for the next beat."""
        done = 0
        while not stop.is_set():
            n = await (self.drain(destination) if role == "drain" else self.consume(destination, poll))
            done += n
            if n < self.settings.batch:
                return done
        return done

    async def once(self) -> int:
        """One pass over every destination, all at once; what was delivered (tests, the CLI)."""
        destinations = [d for d in await asyncio.to_thread(self._destinations) if not d.paused]
        done = await asyncio.gather(*(self.drain(d) for d in destinations))
        if self.transport is None:
            return sum(done)
        return sum(await asyncio.gather(*(self.consume(d, 0.05) for d in destinations)))

    async def drain(self, destination: Destination) -> int:
        """Deliver (or, with a transport, publish) this destination's due messages, one lease's
        worth; how many arrived (were published)."""
        now = self.clock.now()
        breaker = self.breakers.setdefault(destination.id, Breaker())
        allowed = min(breaker.allows(now), self.settings.batch)
        connector = self.connectors.get(destination.channel)
        if allowed == 0 or connector is None:
            return 0
        try:
            messages = await asyncio.to_thread(self._claim, destination.id, allowed)
        except Exception as exc:
            logger.warning("relay: claim failed for destination %s: %s", destination.id, type(exc).__name__)
            return 0
        delivered = 0
        for index, message in enumerate(messages):
            if self.transport is not None:
                receipt = await self._publish(self.transport, message)
                stop = not receipt.delivered  # the transport is away: the rest would fail too
            else:
                receipt = await self._attempt(connector, destination, message)
                breaker.record(receipt.delivered, self.clock.now(), self.settings)
                stop = breaker.allows(self.clock.now()) == 0  # opened
            await asyncio.to_thread(self._settle, message, receipt)
            delivered += receipt.delivered
            if stop:  # the rest wait, their leases freed
                await asyncio.to_thread(self._release, messages[index + 1:])
                break
        return delivered

    async def _publish(self, transport: Transport, message: Message) -> Receipt:
        try:
            await asyncio.wait_for(transport.publish(message.destination_id, message.message_id, message.generation),
                                   timeout=self.settings.attempt_timeout)
        except Exception as exc:  # away, restarting, timed out: published again after a backoff
            return Receipt(False, f"{transport.name} unavailable: {type(exc).__name__}")
        return Receipt(True)

    async def consume(self, destination: Destination, wait: float) -> int:
        """With a transport: deliver what it hands over for this destination, one message at a
        time, until none comes within ``wait`` seconds, a delivery fails or a batch is done;
        how many were acknowledged by the destination."""
        transport, connector = self.transport, self.connectors.get(destination.channel)
        breaker = self.breakers.setdefault(destination.id, Breaker())
        if transport is None or connector is None:
            return 0
        delivered = 0
        for _ in range(self.settings.batch):
            if breaker.allows(self.clock.now()) == 0:
                break
            try:
                handoffs = await asyncio.wait_for(transport.fetch(destination.id, wait),
                                                  timeout=wait + self.settings.attempt_timeout)
            except Exception as exc:
                logger.warning("relay: %s fetch failed for destination %s: %s", transport.name, destination.id,
                               type(exc).__name__)
                break
            if not handoffs:
                break
            outcomes = [await self._hand_over(connector, destination, h, breaker) for h in handoffs]
            delivered += sum(o is True for o in outcomes)
            if False in outcomes:  # the destination failed: its next message waits for the backoff
                break
        return delivered

    async def _hand_over(self, connector: Connector, destination: Destination, handoff: Handoff,
                         breaker: Breaker) -> bool | None:
        """One message from the transport: True delivered, False not (handed over again after
        a backoff, or dead), None nothing to deliver (stale, or not yet recorded as sent)."""
        delay = self.settings.base_delay.total_seconds()
        try:
            message = await asyncio.to_thread(self._read, handoff.message_id)
        except Exception:  # the database away: the transport hands it over again
            await handoff.nak(delay)
            return False
        # Published, its publisher recording it at this moment (a few ms): read it again a few
        # times before handing it back (a redelivery at once risks nats-py's fetch timing out
        # as it arrives: then it waits for ack_wait, 60 s). A publisher that died here: its lease
        # runs out, another relay publishes it again, JetStream drops the copy, it is recorded.
        for pause in (0.02, 0.04, 0.08, 0.16, 0.32):
            if message is None or message.generation != handoff.generation or message.state is not MessageState.PENDING:
                break
            await asyncio.sleep(pause)
            try:
                message = await asyncio.to_thread(self._read, handoff.message_id)
            except Exception:
                await handoff.nak(delay)
                return False
        if message is not None and message.generation == handoff.generation and message.state is MessageState.PENDING:
            await handoff.nak(delay)  # still not recorded: later
            return None
        if (message is None or message.generation != handoff.generation or message.state is not MessageState.SENT
                or message.acknowledged_at is not None):
            await handoff.ack()  # replayed since, dead, or delivered already (a redelivery): done
            return None
        receipt = await self._attempt(connector, destination, message)
        now = self.clock.now()
        breaker.record(receipt.delivered, now, self.settings)
        try:
            if receipt.delivered:
                await asyncio.to_thread(self._recorded, message, handoff.attempt, None)
                await handoff.ack()
                self.delivered += 1
                return True
            self.failed += 1
            if (receipt.permanent or now - message.created_at >= self.settings.horizon
                    or handoff.attempt >= self.settings.max_deliver):
                await asyncio.to_thread(self._recorded, message, handoff.attempt, receipt.error or "given up")
                await handoff.term()
            else:
                backoff_delay = backoff(handoff.attempt, self.settings.base_delay, self.settings.max_delay, self.rng)
                await handoff.nak(backoff_delay.total_seconds())
        except Exception as exc:  # the outcome unrecorded: handed over again (the receiver dedups)
            logger.warning("relay: outcome of %s unrecorded: %s", message.message_id, type(exc).__name__)
            with contextlib.suppress(Exception):
                await handoff.nak(delay)
        return receipt.delivered

    def _read(self, message_id: str) -> Message | None:
        with self.uow(readonly=True) as tx:
            return tx.outbox.message(message_id)

    def _recorded(self, message: Message, attempts: int, error: str | None) -> None:
        """The destination's acknowledgement (``error`` None) or the reason it is dead."""
        with self.uow() as tx:
            if error is None:
                tx.outbox.acknowledge(message.message_id, message.generation, self.clock.now(), attempts)
            else:
                tx.outbox.give_up(message.message_id, message.generation, error, attempts)

    async def _attempt(self, connector: Connector, destination: Destination, message: Message) -> Receipt:
        if message.payload.get("shredded"):
            return Receipt(False, "its owner's keys were destroyed (crypto-shredding)", permanent=True)
        try:
            return await asyncio.wait_for(connector.deliver(destination, message, envelope(message)),
                                          timeout=self.settings.attempt_timeout)
        except TimeoutError:
            return Receipt(False, f"no answer within {self.settings.attempt_timeout:g} s")
        except Exception as exc:  # a connector's own bug must not stop the relay
            return Receipt(False, f"connector error: {type(exc).__name__}")

    def _claim(self, destination_id: int, limit: int) -> list[Message]:
        now = self.clock.now()
        with self.uow() as tx:
            return list(tx.outbox.claim(destination_id, now, now + self.settings.lease, self.owner, limit))

    def _settle(self, message: Message, receipt: Receipt) -> None:
        now = self.clock.now()
        attempts = message.attempts + 1
        if receipt.delivered:  # with a transport: stored there, the destination acknowledges later
            outcome = replace(message, state=MessageState.SENT, attempts=attempts, sent_at=now, last_error=None,
                              acknowledged_at=None if self.transport is not None else now)
            self.delivered += self.transport is None
        elif receipt.permanent or now - message.created_at >= self.settings.horizon:
            outcome = replace(message, state=MessageState.DEAD, attempts=attempts, last_error=receipt.error)
            self.failed += self.transport is None
        else:
            delay = backoff(attempts, self.settings.base_delay, self.settings.max_delay, self.rng)
            outcome = replace(message, attempts=attempts, next_attempt_at=now + delay, last_error=receipt.error)
            self.failed += self.transport is None
        with self.uow() as tx:
            if not tx.outbox.settle(outcome, self.owner):
                logger.warning("relay: lease lost on %s (another relay has it)", message.message_id)

    def _release(self, messages: list[Message]) -> None:
        with self.uow() as tx:
            for message in messages:
                tx.outbox.settle(message, self.owner)  # unchanged: pending, due, free
