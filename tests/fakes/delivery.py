"""In-memory fakes of delivery's ports (services/ports/delivery.py), keeping their contract:
one lease at a time, each ordering key's first pending message only, a message id queued once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tests.fakes.state import FakeState
from tierspayant.services.ports import Conflict
from tierspayant.services.ports.delivery import Backlog, Destination, Message, MessageState


class FakeDestinations:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_destination(self, destination: Destination) -> int:
        if any(d.name == destination.name for d in self.s.destinations.values()):
            raise Conflict("name", "already exists")
        new = replace(destination, id=self.s.new_id())
        self.s.destinations[new.id] = new
        return new.id

    def destination(self, name: str) -> Destination | None:
        return next((d for d in self.s.destinations.values() if d.name == name), None)

    def destinations(self) -> list[Destination]:
        return sorted(self.s.destinations.values(), key=lambda d: d.name)

    def routes(self, kind: str, insurer_id: int | None, organisation_id: int | None) -> list[Destination]:
        return [d for d in sorted(self.s.destinations.values(), key=lambda d: d.id)
                if kind in d.kinds and d.insurer_id in (None, insurer_id) and d.organisation_id in (None, organisation_id)
                and (d.insurer_id is not None or d.organisation_id is not None)]

    def update_destination(self, destination: Destination) -> None:
        self.s.destinations[destination.id] = destination


class FakeOutbox:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_messages(self, messages: Sequence[Message]) -> None:
        for m in messages:
            if any(o.message_id == m.message_id for o, _ in self.s.outbox.values()):
                continue
            new_id = self.s.new_id()
            self.s.outbox[new_id] = (replace(m, id=new_id, state=MessageState.PENDING, attempts=0,
                                             next_attempt_at=m.created_at), None)

    def claim(self, destination_id: int, now: datetime, until: datetime, owner: str, limit: int) -> list[Message]:
        pending = sorted((m for m, _ in self.s.outbox.values()
                          if m.destination_id == destination_id and m.state is MessageState.PENDING), key=lambda m: m.id)
        firsts = {}
        for m in pending:
            firsts.setdefault(m.ordering_key, m)
        out = []
        for m in pending:
            lease = self.s.outbox[m.id][1]
            if (firsts[m.ordering_key] is m and m.next_attempt_at is not None and m.next_attempt_at <= now
                    and (lease is None or lease[1] < now)):
                out.append(m)
                self.s.outbox[m.id] = (m, (owner, until))
            if len(out) == limit:
                break
        return out

    def due_destinations(self, now: datetime) -> set[int]:
        return {m.destination_id for m, lease in self.s.outbox.values() if m.state is MessageState.PENDING
                and m.next_attempt_at is not None and m.next_attempt_at <= now and (lease is None or lease[1] < now)}

    def settle(self, message: Message, owner: str) -> bool:
        current, lease = self.s.outbox.get(message.id, (None, None))
        if current is None or lease is None or lease[0] != owner or current.state is not MessageState.PENDING:
            return False
        self.s.outbox[message.id] = (replace(message, payload=current.payload), None)
        return True

    def message(self, message_id: str) -> Message | None:
        return next((m for m, _ in self.s.outbox.values() if m.message_id == message_id), None)

    def replay(self, message_id: str, now: datetime) -> bool:
        found = self.message(message_id)
        if found is None or found.state is not MessageState.DEAD:
            return False
        self.s.outbox[found.id] = (replace(found, state=MessageState.PENDING, attempts=0, next_attempt_at=now,
                                           sent_at=None, acknowledged_at=None, generation=found.generation + 1), None)
        return True

    def _carried(self, message_id: str, generation: int) -> Message | None:
        found = self.message(message_id)
        if (found is None or found.generation != generation or found.state is not MessageState.SENT
                or found.acknowledged_at is not None):
            return None
        return found

    def acknowledge(self, message_id: str, generation: int, at: datetime, attempts: int) -> bool:
        found = self._carried(message_id, generation)
        if found is None:
            return False
        self.s.outbox[found.id] = (replace(found, acknowledged_at=at, attempts=attempts, last_error=None), None)
        return True

    def give_up(self, message_id: str, generation: int, error: str, attempts: int) -> bool:
        found = self._carried(message_id, generation)
        if found is None:
            return False
        self.s.outbox[found.id] = (replace(found, state=MessageState.DEAD, attempts=attempts, last_error=error[:300]),
                                   None)
        return True

    def backlog(self, now: datetime) -> list[Backlog]:
        out = []
        for d in sorted(self.s.destinations.values(), key=lambda d: d.name):
            mine = [m for m, _ in self.s.outbox.values() if m.destination_id == d.id]
            pending = [m for m in mine if m.state is MessageState.PENDING]
            in_transit = [m for m in mine if m.state is MessageState.SENT and m.acknowledged_at is None]
            out.append(Backlog(d.id, d.name, d.paused, len(pending), sum(m.state is MessageState.DEAD for m in mine),
                               min((m.created_at for m in pending + in_transit), default=None), len(in_transit)))
        return out

    def dead(self, limit: int) -> list[Message]:
        return [replace(m, payload={}) for _, (m, _lease) in sorted(self.s.outbox.items())
                if m.state is MessageState.DEAD][:limit]

    def delivery_of(self, ordering_key: str) -> list[Message]:
        return [replace(m, payload={}) for _, (m, _lease) in sorted(self.s.outbox.items())
                if m.ordering_key == ordering_key]
