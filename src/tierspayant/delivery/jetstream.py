"""The NATS JetStream transport (services/ports/delivery.py ``Transport``; docs/ARCHITECTURE.md,
"Delivery"): for deployments with several API nodes and relays (TIERS_DELIVERY_TRANSPORT=
nats://host:4222).

One stream (file storage, work-queue retention: a message is gone once acknowledged) with one
subject per destination; ``Nats-Msg-Id`` is the outbox message id and its generation, so the
server's duplicate window drops a re-publication (a relay that died between the server's
acknowledgement and recording it publishes again). One durable pull consumer per destination,
explicit acks, ``max_ack_pending`` 1 (a destination's messages are handed over one at a time,
in the order published, a failed one before the next), ``max_deliver`` and a backoff for the
redeliveries of a consumer that died holding one (its ack wait ran out). What a message carries
is its outbox id and generation: the payload stays sealed in the database.

A client belongs to the event loop that made it (the server's workers, ``tiers relay``, tests'
passes): one connection per loop, which reconnects a few times when the server goes, then
closes; the next publication or fetch connects again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

#: The server drops a publication whose Nats-Msg-Id it stored within this window.
DUPLICATE_WINDOW = timedelta(minutes=2)
RECONNECTS = 4


async def _quiet(error: Exception) -> None:
    """The client's own error reports: the relay logs what fails, once (services/relay.py)."""


@dataclass
class _Handoff:
    """A JetStream message as the consumer gets it (services/ports/delivery.py ``Handoff``)."""

    msg: Msg
    message_id: str
    generation: int
    attempt: int

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self, delay: float) -> None:
        await self.msg.nak(delay=delay)

    async def term(self) -> None:
        await self.msg.term()


@dataclass
class _Link:
    loop: asyncio.AbstractEventLoop
    client: Client
    js: JetStreamContext
    subscriptions: dict[int, JetStreamContext.PullSubscription] = field(default_factory=dict)


class JetStreamTransport:
    name = "NATS JetStream"

    def __init__(self, url: str, stream: str = "TIERS_DELIVERY", ack_wait: float = 60.0, max_deliver: int = 1000,
                 connect_timeout: float = 2.0) -> None:
        self.url = url
        self.stream = stream
        self.subjects = f"tiers.{stream.lower()}"
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.connect_timeout = connect_timeout
        self._links: dict[int, _Link] = {}

    async def _link(self) -> _Link:
        running = asyncio.get_running_loop()
        loop = id(running)
        link = self._links.get(loop)
        # A new loop may get a finished one's id: its client is not this loop's.
        if link is None or link.loop is not running or link.client.is_closed:
            if len(self._links) > 8:
                self._links.clear()  # loops gone (tests' passes): their clients went with them
            # A few reconnections, then the client closes and the next call connects anew (the
            # client's "without end" would also retry a first connection without end).
            client = await asyncio.wait_for(nats.connect(
                self.url, connect_timeout=self.connect_timeout, max_reconnect_attempts=RECONNECTS,
                reconnect_time_wait=0.5, name="tierspayant-relay", error_cb=_quiet), timeout=self.connect_timeout * 4)
            link = _Link(running, client, client.jetstream())
            await self._ensure_stream(link.js)
            self._links[loop] = link
        return link

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=self.stream, subjects=[f"{self.subjects}.>"], retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW.total_seconds()))

    def subject(self, destination_id: int) -> str:
        return f"{self.subjects}.d{destination_id}"

    async def publish(self, destination_id: int, message_id: str, generation: int) -> None:
        link = await self._link()
        body = json.dumps({"message_id": message_id, "generation": generation}).encode()
        await link.js.publish(self.subject(destination_id), body, timeout=5.0, stream=self.stream,
                              headers={"Nats-Msg-Id": f"{message_id}.{generation}"})

    async def _subscription(self, link: _Link, destination_id: int) -> JetStreamContext.PullSubscription:
        found = link.subscriptions.get(destination_id)
        if found is None:
            # The ack wait doubles for the redeliveries of a consumer that died holding one.
            waits = [self.ack_wait * 2 ** n for n in range(4)]
            found = await link.js.pull_subscribe(
                self.subject(destination_id), durable=f"d{destination_id}", stream=self.stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, max_deliver=self.max_deliver,
                                      ack_wait=self.ack_wait, backoff=waits))
            link.subscriptions[destination_id] = found
        return found

    async def fetch(self, destination_id: int, wait: float) -> list[_Handoff]:
        link = await self._link()
        subscription = await self._subscription(link, destination_id)
        try:
            msgs = await subscription.fetch(1, timeout=wait)
        except NatsTimeout:
            return []
        handed = []
        for msg in msgs:
            ref = json.loads(msg.data)
            handed.append(_Handoff(msg, str(ref["message_id"]), int(ref["generation"]), msg.metadata.num_delivered))
        return handed

    async def forget(self) -> None:
        """Delete the stream (tests' own streams; never a deployment's)."""
        link = await self._link()
        await link.js.delete_stream(self.stream)
        await link.client.close()
        self._links.pop(id(asyncio.get_running_loop()), None)
