"""Password sign-ins from a source under a throttle are refused here, before any work
(docs/THREATS.md T4): the first 429 the use case gives a source is remembered in this worker's
memory until its Retry-After, and that source's next attempts get the same answer from this
middleware, without parsing, a database read or a password hash.

The answer is held ``hold`` (a tarpit; Settings.sign_in_hold_seconds, 30 s by default) before
it is sent: holding costs no CPU, and a stuffing tool that keeps hammering gets one attempt per
connection per ``hold`` instead of thousands a second, each of which would cost the server a
request's work. At most ``MAX_HELD`` answers wait per worker; beyond, they go at once. A
stuffing flood then costs the platform almost nothing, and its legitimate users keep their
latency (``tiers simulate`` scenario (e))."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any, Protocol

from starlette.types import Message, Receive, Scope, Send

BODY = json.dumps({"type": "about:blank", "title": "Too many failed sign-ins from your network", "status": 429,
                   "detail": "retry later, or sign in with a passkey"}).encode()
MAX_SOURCES = 100_000
MAX_HELD = 256


class Clock(Protocol):
    def now(self) -> datetime: ...


class SourceGate:
    def __init__(self, app: Any, clock: Clock, paths: frozenset[str] = frozenset({"/v1/sessions"}),
                 hold: timedelta = timedelta(0)) -> None:
        self.app = app
        self.clock = clock  # the platform's: the use case's Retry-After is in its time
        self.paths = paths
        self.hold = hold
        self.held = 0
        self.blocked: dict[str, datetime] = {}  # source -> when it may try again

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        source = (scope.get("client") or ("unknown", 0))[0]
        until = self.blocked.get(source)
        remaining = (until - self.clock.now()).total_seconds() if until else 0.0
        if until is not None and remaining > 0:
            if self.hold and self.held < MAX_HELD:
                # in the platform's time, like the block (a simulation's clock runs faster)
                rate = self.clock.rate() if hasattr(self.clock, "rate") else 1.0
                self.held += 1
                try:
                    await asyncio.sleep(min(self.hold.total_seconds(), remaining) / rate)
                finally:
                    self.held -= 1
                remaining = max(1.0, (until - self.clock.now()).total_seconds())
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/problem+json"),
                                    (b"retry-after", str(int(remaining) + 1).encode()),
                                    (b"content-length", str(len(BODY)).encode())]})
            await send({"type": "http.response.body", "body": BODY})
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 429:
                retry = dict(message.get("headers", [])).get(b"retry-after", b"")
                if retry.isdigit():
                    if len(self.blocked) >= MAX_SOURCES:
                        self.blocked.clear()
                    self.blocked[source] = self.clock.now() + timedelta(seconds=int(retry))
            await send(message)

        await self.app(scope, receive, watch)
