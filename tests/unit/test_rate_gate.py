"""Floods refused before any work (api/rate_gate.py, docs/THREATS.md "Floods"): a session over
its rate or its in-flight share, a source sending invented tokens, each answered 429 without
reaching the application, while other sessions -- and known tokens from the same network -- go on."""

from __future__ import annotations

import asyncio
from typing import Any

from tierspayant.api.rate_gate import RateGate
from tierspayant.security.throttle import TokenBuckets


class App:
    """Counts the requests that got through; answers 401 to tokens starting with "bad"."""

    def __init__(self, pause: float = 0.0) -> None:
        self.reached = 0
        self.pause = pause

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached += 1
        if self.pause:
            await asyncio.sleep(self.pause)
        auth = dict(scope["headers"]).get(b"authorization", b"")
        status = 401 if auth.startswith(b"Bearer bad") else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def call(gate: RateGate, token: str | None, source: str = "10.0.0.1") -> int:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": "/v1/rights-checks", "headers": headers, "client": (source, 1)}
    asyncio.run(gate(scope, receive, send))  # type: ignore[arg-type]
    return int(sent[0]["status"])


def gate(app: App, clock: Clock, **changes: Any) -> RateGate:
    options: dict[str, Any] = {"rate": 2.0, "burst": 5, "in_flight": 2, "invalid_per_source": 4, "hold": 0.0,
                               "monotonic": clock, **changes}
    return RateGate(app, **options)


def test_a_session_over_its_rate_is_refused_before_the_application_and_others_go_on() -> None:
    app, clock = App(), Clock()
    g = gate(app, clock)
    assert [call(g, "flooder") for _ in range(8)] == [200] * 5 + [429] * 3  # the burst, then refused
    assert app.reached == 5
    assert call(g, "colleague") == 200  # another session: its own budget
    clock.t += 1.0
    assert [call(g, "flooder") for _ in range(3)] == [200, 200, 429]  # 2 a second sustained
    assert call(g, None) == 200 and app.reached == 9  # no token: the source gates and the routes decide


def test_a_source_inventing_tokens_is_refused_without_a_lookup_but_its_known_tokens_work() -> None:
    app, clock = App(), Clock()
    g = gate(app, clock)
    assert call(g, "known") == 200  # a colleague behind the same address, seen valid
    answers = [call(g, f"bad-{n}") for n in range(20)]
    assert answers[:5] == [401] * 5 and set(answers[6:]) == {429}
    reached = app.reached
    assert call(g, "bad-new") == 429 and app.reached == reached  # refused before the application
    assert call(g, "known") == 200  # the known token goes on
    assert call(g, "fresh-valid", source="10.0.0.2") == 200  # another source is not concerned
    clock.t += 61
    assert call(g, "bad-after") == 401  # the block lapses


def test_one_session_cannot_hold_more_than_its_share_in_flight() -> None:
    app, clock = App(pause=0.05), Clock()
    g = gate(app, clock, burst=100, rate=100)

    async def many() -> list[int]:
        async def one() -> int:
            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "path": "/v1/x", "headers": [(b"authorization", b"Bearer busy")],
                     "client": ("10.0.0.9", 1)}
            await g(scope, None, send)  # type: ignore[arg-type]
            return int(sent[0]["status"])

        return await asyncio.gather(*(one() for _ in range(6)))

    statuses = asyncio.run(many())
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429]  # two at a time, the rest refused at once


def test_buckets_refill_and_forget_the_least_recent_key() -> None:
    buckets = TokenBuckets(rate=1.0, burst=2.0, max_keys=2)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert buckets.take("a", 1.0) == 0.0  # a second later: one more
    buckets.take("b", 1.0)
    buckets.take("c", 1.0)  # "a" was the least recently used: forgotten, full again
    assert buckets.take("a", 1.0) == 0.0 and buckets.take("a", 1.0) == 0.0
