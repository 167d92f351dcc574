"""Delivery (services/delivery.py; docs/ARCHITECTURE.md, "Delivery"): the outbox every fact that
must leave the platform writes in its own transaction, the destinations it goes to, and the
connectors that carry a message there (a signed webhook, a file drop, e-mail, SMS), and the
transport that may carry it between the outbox and the connectors (NATS JetStream)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Channel(StrEnum):
    WEBHOOK = "webhook"  # Standard Webhooks: a signed POST, a 2xx acknowledges
    FILE = "file"  # a directory: temp file, fsync, rename
    EMAIL = "email"  # SMTP
    SMS = "sms"  # an SMS gateway over HTTP


class MessageState(StrEnum):
    PENDING = "pending"  # to deliver (now, or at ``next_attempt_at``)
    SENT = "sent"  # the destination acknowledged it (or, with a transport, the transport has it)
    DEAD = "dead"  # given up (the horizon passed, or it can never be delivered): replayable


@dataclass(frozen=True, slots=True)
class Destination:
    """Where messages go: one per insurer system, organisation's practice software, bank drop or
    notice channel. ``config`` holds the channel's settings (url, directory, address...);
    ``secrets`` the webhook signing secrets, newest first (a rotation keeps the previous one
    for its overlap: both sign)."""

    id: int
    name: str
    channel: Channel
    config: Mapping[str, Any]
    #: What it receives: message kinds (e.g. "invoice.adjudicated"), for one insurer or one
    #: organisation (None: any).
    kinds: tuple[str, ...]
    insurer_id: int | None
    organisation_id: int | None
    paused: bool = False
    secrets: tuple[tuple[str, datetime | None], ...] = ()  # (secret, valid until or None)


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one destination. ``message_id`` is stable (the receiver's idempotency
    key); messages of one ``ordering_key`` are delivered one after another, in order."""

    id: int
    message_id: str
    destination_id: int
    kind: str
    ordering_key: str
    #: Sealed at rest with the key of ``key_owner`` (an insurer, or the platform's).
    payload: Mapping[str, Any]
    key_owner: int
    created_at: datetime
    state: MessageState = MessageState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    #: A replay's count: a replayed message is published again under a new transport id.
    generation: int = 0
    #: When the destination acknowledged it (with a transport: later than ``sent_at``).
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    destination_id: int
    name: str
    paused: bool
    pending: int
    dead: int
    oldest: datetime | None  # the oldest unacknowledged (pending or in transit) message's creation
    #: Handed to the transport, not yet acknowledged by the destination.
    in_transit: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a connector's attempt gave: delivered (acknowledged), or why not -- ``permanent``
    when trying again cannot help (a 4xx other than 408/429, a missing directory)."""

    delivered: bool
    error: str | None = None
    permanent: bool = False


class Destinations(Protocol):
    def add_destination(self, destination: Destination) -> int:
        """Register one (``id`` ignored; secrets sealed). ``Conflict("name")`` when taken."""
        ...

    def destination(self, name: str) -> Destination | None:
        """The destination of this name, secrets opened, or None."""
        ...

    def destinations(self) -> list[Destination]:
        """Every destination, by name."""
        ...

    def routes(self, kind: str, insurer_id: int | None, organisation_id: int | None) -> list[Destination]:
        """The destinations a message of ``kind`` about this insurer and organisation goes to."""
        ...

    def update_destination(self, destination: Destination) -> None:
        """Write a destination's settings, secrets and pause (by id)."""
        ...


class Outbox(Protocol):
    def add_messages(self, messages: Sequence[Message]) -> None:
        """Queue messages (ids ignored), in the caller's transaction: the fact and its messages
        commit together. A ``message_id`` already queued is not queued twice."""
        ...

    def claim(self, destination_id: int, now: datetime, until: datetime, owner: str, limit: int) -> list[Message]:
        """Lease up to ``limit`` due messages of one destination to ``owner`` until ``until``:
        pending, due, not leased by another, and each the first pending one of its ordering
        key. Two relays never hold one message at once (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``; SQLite: its single writer)."""
        ...

    def due_destinations(self, now: datetime) -> set[int]:
        """The destinations with a message pending, due and not leased (``claim`` may still find
        none: one waiting behind its ordering key's first); a read, so that a relay's idle beat
        takes no write lock."""
        ...

    def settle(self, message: Message, owner: str) -> bool:
        """Record an attempt's outcome (state, attempts, next attempt, error, sent at) and free
        the lease -- only if ``owner`` still holds it: False when the lease was lost."""
        ...

    def message(self, message_id: str) -> Message | None:
        """One message by its ``message_id``, payload opened, or None."""
        ...

    def replay(self, message_id: str, now: datetime) -> bool:
        """A dead message pending again (attempts reset, ``generation`` one more); False when
        none is dead by that id."""
        ...

    def acknowledge(self, message_id: str, generation: int, at: datetime, attempts: int) -> bool:
        """A message the transport carried, acknowledged by its destination: ``acknowledged_at``
        set, once (False: not this generation, dead, or already acknowledged)."""
        ...

    def give_up(self, message_id: str, generation: int, error: str, attempts: int) -> bool:
        """A message the transport carried that cannot be delivered: dead, with the reason
        (False: not this generation, or already acknowledged or dead)."""
        ...

    def backlog(self, now: datetime) -> list[Backlog]:
        """Per destination: pending and dead counts, the oldest pending message's age."""
        ...

    def dead(self, limit: int) -> list[Message]:
        """The dead messages, oldest first (payloads not opened: ``payload`` is empty)."""
        ...

    def delivery_of(self, ordering_key: str) -> list[Message]:
        """The messages of one ordering key (e.g. one invoice's), oldest first, payloads not opened."""
        ...


class Connector(Protocol):
    """Carries one message to one destination of its channel."""

    channel: Channel

    async def deliver(self, destination: Destination, message: Message, body: bytes) -> Receipt:
        """One attempt; never raises for the destination's own failures (a Receipt says them)."""
        ...

    def check(self, destination: Destination) -> str | None:
        """Why this destination's settings cannot work (a clear sentence), or None."""
        ...


class Handoff(Protocol):
    """One message as a transport hands it to its destination's consumer: the outbox message's
    id and generation only (the payload stays sealed in the database), which delivery this is
    (1 for the first), and the transport's own acknowledgement verbs."""

    message_id: str
    generation: int
    attempt: int

    async def ack(self) -> None:
        """Delivered: the transport forgets it."""
        ...

    async def nak(self, delay: float) -> None:
        """Not delivered: hand it over again after ``delay`` seconds."""
        ...

    async def term(self) -> None:
        """Never to be delivered (dead in the outbox): the transport forgets it."""
        ...


class Transport(Protocol):
    """Carries outbox messages between relays (NATS JetStream, delivery/jetstream.py): the
    outbox hands each message over once the transport has stored it; each destination's
    consumer takes them one at a time, in the order they were handed over."""

    name: str

    async def publish(self, destination_id: int, message_id: str, generation: int) -> None:
        """Store one message for its destination; returns once stored (a publication of the
        same id and generation again is dropped by the transport). Raises when it cannot."""
        ...

    async def fetch(self, destination_id: int, wait: float) -> Sequence[Handoff]:
        """The destination's next message (none after ``wait`` seconds: empty)."""
        ...
