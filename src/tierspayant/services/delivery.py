"""Delivery, the outbound half (docs/ARCHITECTURE.md, "Delivery"; docs/THREATS.md T8): every fact
that must leave the platform writes its messages to the outbox **in its own transaction**
(``queue``: no fact without its message, no message without its fact), one per destination the
fact's kind routes to; the relay (services/relay.py) carries them. Here too: the operators'
management of destinations -- registered with their settings checked by their connector, paused,
resumed, their webhook secret rotated with an overlap -- and of the outbox (backlog, dead
letters, replay).

A payload carries no more personal data than its destination needs: an insurer's system gets
the member number and rank of an invoice's beneficiary, practice software only its own invoice
numbers; payloads are sealed at rest (the insurer's key, or the platform's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from tierspayant.domain.errors import InvalidField
from tierspayant.security.digests import content_digest
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.security.tokens import new_webhook_secret
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, Conflict, HasDestinations, HasLog, HasOutbox, UnitOfWork
from tierspayant.services.ports.delivery import (
    Backlog,
    Channel,
    Connector,
    Destination,
    Message,
)
from tierspayant.services.records import PLATFORM_KEY_OWNER


class DeliveryStore(HasDestinations, HasOutbox, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""


#: The kinds of message the platform sends, and what each carries.
KINDS = {
    "invoice.adjudicated": "an invoice received and adjudicated (status, amounts, reason codes)",
    "invoice.reviewed": "an invoice an insurer's operator approved or rejected",
    "invoice.withdrawn": "an invoice cancelled or replaced by its professional",
    "payment_run.created": "a payment run: its SEPA pain.001 file (file drops)",
    "statement.available": "a remittance statement for a professional",
    "bank_details.change_requested": "a notice: the professional's bank details change in 72 h",
    "incident.processor_notice": "a breach: the processor's notice to a controller (GDPR Art. 33(2))",
    "incident.notices_queued": "a breach: the notices to a controller's people are ready (Art. 34), per channel",
}
OPERATORS = (Role.PLATFORM_ADMIN,)
#: A rotated-out webhook secret keeps signing for this long (receivers switch meanwhile).
SECRET_OVERLAP = timedelta(hours=24)


def message_id(kind: str, ref: str, destination_id: int) -> str:
    """Stable per fact and destination: the same fact queued twice (an idempotent replay) is
    one message, and the receiver deduplicates on it (Standard Webhooks ``webhook-id``)."""
    return "msg_" + content_digest(f"{kind}|{ref}|{destination_id}".encode())[:40]


def queue(tx: DeliveryStore, kind: str, ref: str, at: datetime, *, insurer_id: int | None = None,
          organisation_id: int | None = None, payload: Callable[[Destination], Mapping[str, Any] | None],
          ordering_key: str | None = None, key_owner: int | None = None) -> int:
    """Queue the messages of one fact (``ref`` names it), in the caller's transaction: one per
    destination routed to (``payload(destination)`` says what that one gets, None: nothing),
    in order with the other messages of ``ordering_key`` (default: ``ref``), sealed with the key
    of ``key_owner`` (default: the insurer's, else the platform's). Returns how many."""
    assert kind in KINDS, kind
    owner = key_owner if key_owner is not None else insurer_id if insurer_id is not None else PLATFORM_KEY_OWNER
    messages = []
    for destination in tx.destinations.routes(kind, insurer_id, organisation_id):
        body = payload(destination)
        if body is None:
            continue
        messages.append(Message(0, message_id(kind, ref, destination.id), destination.id, kind,
                                ordering_key or ref, body, owner, at))
    tx.outbox.add_messages(messages)
    return len(messages)


class DeliveryService(UseCase[DeliveryStore]):
    """The operator's management of destinations and of the outbox."""

    def __init__(self, uow: UnitOfWork[DeliveryStore], clock: Clock, recorder: Recorder,
                 connectors: Mapping[Channel, Connector]) -> None:
        super().__init__(uow, clock, recorder)
        self.connectors = connectors

    @staticmethod
    def _operator(principal: Principal) -> None:
        if principal.role not in OPERATORS:
            raise Forbidden("the platform's operators only")

    def add(self, principal: Principal, destination: Destination) -> Destination:
        """Register a destination, its settings checked by its channel's connector at once (a
        bad URL or an unwritable directory is refused here, not found later). A webhook gets a
        signing secret, answered once."""
        self._operator(principal)
        if not destination.name or len(destination.name) > 80:
            raise InvalidField("name", "1 to 80 characters")
        unknown = [k for k in destination.kinds if k not in KINDS]
        if not destination.kinds or unknown:
            raise InvalidField("kinds", f"one or more of {', '.join(KINDS)}")
        if destination.insurer_id is None and destination.organisation_id is None:
            raise InvalidField("insurer", "a destination serves one insurer or one organisation")
        connector = self.connectors.get(destination.channel)
        if connector is None:
            raise InvalidField("channel", f"not available here: {destination.channel.value}")
        problem = connector.check(destination)
        if problem:
            raise InvalidField("config", problem)
        if destination.channel is Channel.WEBHOOK and not destination.secrets:
            destination = replace(destination, secrets=((new_webhook_secret(), None),))
        with self.uow() as tx:
            destination_id = tx.destinations.add_destination(destination)
        return replace(destination, id=destination_id)

    def _get(self, tx: DeliveryStore, name: str) -> Destination:
        found = tx.destinations.destination(name)
        if found is None:
            raise NotFound()
        return found

    def destinations(self, principal: Principal) -> list[Destination]:
        self._operator(principal)
        with self.uow(readonly=True) as tx:
            return [replace(d, secrets=()) for d in tx.destinations.destinations()]

    def set_paused(self, principal: Principal, name: str, paused: bool) -> Destination:
        """Pause (messages pile up, none is lost) or resume a destination."""
        self._operator(principal)
        with self.uow() as tx:
            destination = replace(self._get(tx, name), paused=paused)
            tx.destinations.update_destination(destination)
        return replace(destination, secrets=())

    def rotate_secret(self, principal: Principal, name: str) -> str:
        """A new signing secret, answered once; the previous one keeps signing too for
        SECRET_OVERLAP (both signatures are sent), then goes."""
        self._operator(principal)
        now = self.clock.now()
        with self.uow() as tx:
            destination = self._get(tx, name)
            if destination.channel is not Channel.WEBHOOK:
                raise InvalidField("name", "only webhooks are signed")
            secret = new_webhook_secret()
            kept = tuple((s, until if until is not None else now + SECRET_OVERLAP)
                         for s, until in destination.secrets if until is None or until > now)
            tx.destinations.update_destination(replace(destination, secrets=((secret, None), *kept)))
        return secret

    def status(self, principal: Principal) -> list[Backlog]:
        """Per destination: pending and dead messages, the oldest pending one's creation."""
        self._operator(principal)
        with self.uow(readonly=True) as tx:
            return tx.outbox.backlog(self.clock.now())

    def dead(self, principal: Principal, limit: int = 100) -> list[Message]:
        self._operator(principal)
        with self.uow(readonly=True) as tx:
            return tx.outbox.dead(limit)

    def replay(self, principal: Principal, message_id_: str) -> None:
        """A dead message delivered again (its id unchanged: a receiver that had it dedups)."""
        self._operator(principal)
        with self.uow() as tx:
            if not tx.outbox.replay(message_id_, self.clock.now()):
                raise Conflict("message_id", "no dead message by this id")

    def of_invoice(self, invoice_id: int) -> list[tuple[Message, str]]:
        """An invoice's messages, each with whom it goes to ("insurer" or "organisation"): its
        delivery state, for the invoice's own readers (the caller checked they are)."""
        with self.uow(readonly=True) as tx:
            messages = tx.outbox.delivery_of(f"invoice:{invoice_id}")
            kinds = {d.id: d for d in tx.destinations.destinations()} if messages else {}
        return [(m, "insurer" if kinds.get(m.destination_id) and kinds[m.destination_id].insurer_id else "organisation")
                for m in messages]
