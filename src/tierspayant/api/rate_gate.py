"""Floods that slow nobody else (docs/THREATS.md, "Floods"): request-rate limits per session
token and a brake on sources that send invalid tokens, decided here before any parsing or
database work, in this worker's memory.

- **Per session**: ``rate`` requests a second sustained, ``burst`` at once, at most
  ``in_flight`` at a time -- one session cannot take the server's capacity, whatever it sends
  (a valid session hammering one patient is never contained by distinct counts: it is slowed
  here). Per *account* across its sessions: ``AccountsService.authenticate``.
- **Per source**: more than ``invalid_per_source`` answers 401 to one source's bearer tokens in
  ten seconds and, for a minute, that source's tokens not seen valid in this worker are refused
  without the session lookup (a flood of invented tokens costs a dictionary lookup each).
  Tokens already seen valid from that source go on: colleagues behind the same network address
  keep working.

Refusals are 429 with Retry-After, held ``hold`` seconds first (a tarpit, as api/source_gate.py):
a flooding client gets one answer per connection per hold instead of thousands a second, and
holding costs no CPU. At most ``MAX_HELD`` answers wait per worker; beyond, they go at once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tierspayant.security.throttle import TokenBuckets

MAX_HELD = 512
MAX_KEYS = 100_000
FAILURE_WINDOW = 10.0
BLOCK_SECONDS = 60.0
_BODIES = {
    "session": json.dumps({"type": "about:blank", "title": "Too many requests", "status": 429,
                           "detail": "this session sends faster than the platform answers anyone; slow down"}).encode(),
    "source": json.dumps({"type": "about:blank", "title": "Too many requests", "status": 429,
                          "detail": "too many invalid session tokens from your network; sign in again"}).encode(),
}


#: The portal's session cookie (web/session.py): its token is limited like a bearer token.
PORTAL_SESSION_COOKIE = "__Host-tp_session"
_COOKIE_PREFIX = PORTAL_SESSION_COOKIE.encode() + b"="


def _bearer(scope: Scope) -> str | None:
    """The request's session token: its bearer token, else the portal's session cookie."""
    cookie = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() != "bearer ":
                return None
            return text[7:].strip() or None
        if name == b"cookie":
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(_COOKIE_PREFIX):
                    cookie = part[len(_COOKIE_PREFIX):].decode("latin-1") or None
    return cookie


class RateGate:
    def __init__(self, app: Any, *, rate: float, burst: float, in_flight: int, invalid_per_source: int,
                 hold: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.sessions = TokenBuckets(rate, burst, MAX_KEYS)
        self.failures = TokenBuckets(invalid_per_source / FAILURE_WINDOW, invalid_per_source, MAX_KEYS)
        self.in_flight = in_flight
        self.hold = hold
        self.monotonic = monotonic
        self.flying: dict[int, int] = {}
        self.blocked: dict[str, float] = {}  # source -> until (monotonic)
        self.good: dict[int, None] = {}  # tokens (their hash) answered other than 401: an ordered set
        self.held = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _bearer(scope) if scope["type"] == "http" else None
        if token is None:
            await self.app(scope, receive, send)
            return
        key = hash(token)  # per process, never stored: the token itself stays nowhere
        source = (scope.get("client") or ("unknown", 0))[0]
        now = self.monotonic()
        until = self.blocked.get(source, 0.0)
        if until > now and key not in self.good:
            await self._refuse(send, "source", until - now)
            return
        wait = self.sessions.take(key, now)
        if wait or self.flying.get(key, 0) >= self.in_flight:
            await self._refuse(send, "session", max(wait, 1.0))
            return
        self.flying[key] = self.flying.get(key, 0) + 1

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 401:
                    self.good.pop(key, None)
                    if self.failures.take(source, self.monotonic()):
                        if len(self.blocked) >= MAX_KEYS:
                            self.blocked.clear()
                        self.blocked[source] = self.monotonic() + BLOCK_SECONDS
                elif key not in self.good:
                    if len(self.good) >= MAX_KEYS:
                        del self.good[next(iter(self.good))]
                    self.good[key] = None
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            left = self.flying[key] - 1
            if left:
                self.flying[key] = left
            else:
                del self.flying[key]

    async def _refuse(self, send: Send, kind: str, retry_after: float) -> None:
        if self.hold and self.held < MAX_HELD:
            self.held += 1
            try:
                await asyncio.sleep(self.hold)
            finally:
                self.held -= 1
        body = _BODIES[kind]
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"retry-after", str(int(retry_after) + 1).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
