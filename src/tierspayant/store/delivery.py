"""Delivery in SQL (``services.ports.delivery``): destinations (signing secrets sealed with the
platform's key) and the outbox (payloads sealed with their owner's key), leased to one relay at
a time: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update

from tierspayant.services.ports.delivery import Backlog, Channel, Destination, Message, MessageState
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert

_D = t.delivery_destinations.c
_M = t.outbox_messages.c
_SUMMARY = [c for c in t.outbox_messages.c if c.name != "payload_enc"]


def _secrets_out(secrets: Sequence[tuple[str, datetime | None]]) -> list[list[str | None]]:
    return [[secret, until.isoformat() if until else None] for secret, until in secrets]


def _secrets_in(raw: Any) -> tuple[tuple[str, datetime | None], ...]:
    return tuple((str(s), datetime.fromisoformat(u) if u else None) for s, u in (raw or []))


class SqlDestinations(SqlPort):
    def add_destination(self, destination: Destination) -> int:
        return self._insert_sealed(t.delivery_destinations, {
            **self._values(destination), "created_at": datetime.now(UTC)}, "name")

    @staticmethod
    def _values(d: Destination) -> dict[str, Any]:
        return {"name": d.name, "channel": d.channel.value, "config": dict(d.config), "kinds": ",".join(d.kinds),
                "insurer_id": d.insurer_id, "organisation_id": d.organisation_id, "paused": d.paused,
                "secrets": _secrets_out(d.secrets)}

    def _destination(self, row: Any) -> Destination | None:
        plain = self._open(t.delivery_destinations, row)
        if plain is None:
            return None
        return Destination(plain["id"], plain["name"], Channel(plain["channel"]), plain["config"],
                           tuple(k for k in plain["kinds"].split(",") if k), plain["insurer_id"],
                           plain["organisation_id"], bool(plain["paused"]), _secrets_in(plain["secrets"]))

    def destination(self, name: str) -> Destination | None:
        return self._destination(self.conn.execute(select(t.delivery_destinations).where(_D.name == name)).first())

    def destinations(self) -> list[Destination]:
        rows = self.conn.execute(select(t.delivery_destinations).order_by(_D.name))
        return [d for d in (self._destination(r) for r in rows) if d is not None]

    def routes(self, kind: str, insurer_id: int | None, organisation_id: int | None) -> list[Destination]:
        # A handful of destinations per insurer or organisation: filtered here on kinds.
        rows = self.conn.execute(select(t.delivery_destinations).where(
            or_(_D.insurer_id.is_(None), _D.insurer_id == insurer_id),
            or_(_D.organisation_id.is_(None), _D.organisation_id == organisation_id),
            or_(_D.insurer_id.is_not(None), _D.organisation_id.is_not(None))).order_by(_D.id))
        return [d for d in (self._destination(r) for r in rows) if d is not None and kind in d.kinds]

    def update_destination(self, destination: Destination) -> None:
        self._reseal(t.delivery_destinations, {**self._values(destination), "id": destination.id})


class SqlOutbox(SqlPort):
    def add_messages(self, messages: Sequence[Message]) -> None:
        for m in messages:
            # The row id is part of the envelope's associated data: insert, then seal.
            key = self.conn.execute(dialect_insert(self.conn)(t.outbox_messages).values(
                message_id=m.message_id, destination_id=m.destination_id, kind=m.kind, ordering_key=m.ordering_key,
                key_owner=m.key_owner, payload_enc="", created_at=m.created_at, state=MessageState.PENDING.value,
                attempts=0, next_attempt_at=m.created_at, generation=0).on_conflict_do_nothing(
                index_elements=["message_id"]).returning(_M.id)).scalar()
            if key is not None:
                self._reseal(t.outbox_messages, {"id": key, "key_owner": m.key_owner, "payload": dict(m.payload)})

    def _message(self, row: Any, opened: bool = True) -> Message:
        m = row._mapping
        payload: Any = {}
        if opened:
            plain = self._open(t.outbox_messages, row)
            payload = plain["payload"] if plain is not None else {"shredded": True}
        return Message(m["id"], m["message_id"], m["destination_id"], m["kind"], m["ordering_key"], payload,
                       m["key_owner"], m["created_at"], MessageState(m["state"]), m["attempts"], m["next_attempt_at"],
                       m["last_error"], m["sent_at"], m["generation"], m["acknowledged_at"])

    def claim(self, destination_id: int, now: datetime, until: datetime, owner: str, limit: int) -> list[Message]:
        earlier = t.outbox_messages.alias("earlier")
        # Each ordering key's first pending message only: one invoice's messages go in order.
        first_of_key = ~select(earlier.c.id).where(
            earlier.c.destination_id == _M.destination_id, earlier.c.ordering_key == _M.ordering_key,
            earlier.c.state == MessageState.PENDING.value, earlier.c.id < _M.id).exists()
        query = select(t.outbox_messages).where(
            _M.destination_id == destination_id, _M.state == MessageState.PENDING.value, _M.next_attempt_at <= now,
            or_(_M.leased_until.is_(None), _M.leased_until < now), first_of_key).order_by(_M.id).limit(limit)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=t.outbox_messages)
        rows = self.conn.execute(query).all()
        if rows:
            self.conn.execute(update(t.outbox_messages).where(_M.id.in_([r.id for r in rows])).values(
                leased_by=owner, leased_until=until))
        return [self._message(r) for r in rows]

    def due_destinations(self, now: datetime) -> set[int]:
        return set(self.conn.execute(select(_M.destination_id).where(
            _M.state == MessageState.PENDING.value, _M.next_attempt_at <= now,
            or_(_M.leased_until.is_(None), _M.leased_until < now)).distinct()).scalars())

    def settle(self, message: Message, owner: str) -> bool:
        done = self.conn.execute(update(t.outbox_messages).where(
            _M.id == message.id, _M.leased_by == owner, _M.state == MessageState.PENDING.value).values(
            state=message.state.value, attempts=message.attempts, next_attempt_at=message.next_attempt_at,
            last_error=(message.last_error or "")[:300] or None, sent_at=message.sent_at,
            acknowledged_at=message.acknowledged_at, leased_by=None, leased_until=None)).rowcount
        return bool(done == 1)

    def _carried(self, message_id: str, generation: int) -> Any:
        """The transport's message of this generation, still unacknowledged."""
        return and_(_M.message_id == message_id, _M.generation == generation, _M.state == MessageState.SENT.value,
                    _M.acknowledged_at.is_(None))

    def acknowledge(self, message_id: str, generation: int, at: datetime, attempts: int) -> bool:
        done = self.conn.execute(update(t.outbox_messages).where(self._carried(message_id, generation)).values(
            acknowledged_at=at, attempts=attempts, last_error=None)).rowcount
        return bool(done == 1)

    def give_up(self, message_id: str, generation: int, error: str, attempts: int) -> bool:
        done = self.conn.execute(update(t.outbox_messages).where(self._carried(message_id, generation)).values(
            state=MessageState.DEAD.value, attempts=attempts, last_error=error[:300])).rowcount
        return bool(done == 1)

    def message(self, message_id: str) -> Message | None:
        row = self.conn.execute(select(t.outbox_messages).where(_M.message_id == message_id)).first()
        return self._message(row) if row else None

    def replay(self, message_id: str, now: datetime) -> bool:
        done = self.conn.execute(update(t.outbox_messages).where(
            _M.message_id == message_id, _M.state == MessageState.DEAD.value).values(
            state=MessageState.PENDING.value, attempts=0, next_attempt_at=now, leased_by=None, leased_until=None,
            sent_at=None, acknowledged_at=None, generation=_M.generation + 1)).rowcount
        return bool(done == 1)

    def backlog(self, now: datetime) -> list[Backlog]:
        pending = _M.state == MessageState.PENDING.value
        in_transit = _M.state == MessageState.SENT.value  # the join keeps only unacknowledged ones
        rows = self.conn.execute(
            select(_D.id, _D.name, _D.paused,
                   func.coalesce(func.sum(case((pending, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((_M.state == MessageState.DEAD.value, 1), else_=0)), 0),
                   func.min(case((_M.state != MessageState.DEAD.value, _M.created_at), else_=None)),
                   func.coalesce(func.sum(case((in_transit, 1), else_=0)), 0))
            .select_from(t.delivery_destinations.outerjoin(t.outbox_messages, and_(
                _M.destination_id == _D.id, or_(_M.state != MessageState.SENT.value, _M.acknowledged_at.is_(None)))))
            .group_by(_D.id, _D.name, _D.paused).order_by(_D.name))
        return [Backlog(r[0], r[1], bool(r[2]), int(r[3]), int(r[4]), _aware(r[5]), int(r[6])) for r in rows]

    def dead(self, limit: int) -> list[Message]:
        rows = self.conn.execute(select(*_SUMMARY).where(_M.state == MessageState.DEAD.value)
                                 .order_by(_M.id).limit(limit))
        return [self._message(r, opened=False) for r in rows]

    def delivery_of(self, ordering_key: str) -> list[Message]:
        rows = self.conn.execute(select(*_SUMMARY).where(_M.ordering_key == ordering_key).order_by(_M.id))
        return [self._message(r, opened=False) for r in rows]


def _aware(value: Any) -> datetime | None:
    """An aggregate's datetime (MIN over a CASE loses the column's type on SQLite)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
