"""The HTTP app factory."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from tierspayant import __version__
from tierspayant.api import metrics, openapi, problems
from tierspayant.api.rate_gate import RateGate
from tierspayant.api.readiness import Readiness
from tierspayant.api.routers import (
    accounts,
    bank_details,
    beneficiaries,
    care,
    core,
    delivery,
    incidents,
    lists,
    log,
    member_files,
    networks,
    passkeys,
    payments,
    reference,
    review,
    security,
)
from tierspayant.api.source_gate import SourceGate
from tierspayant.bootstrap import Platform

Scope = dict[str, Any]
logger = logging.getLogger("tierspayant.api")


class BodyLimit:
    """Refuse request bodies above ``limit`` bytes with 413, whether or not Content-Length is
    sent (a streamed body is counted as it arrives); ``larger``: the paths (a pattern) allowed
    more, each with its own limit (a membership file)."""

    def __init__(self, app: Any, limit: int, larger: tuple[tuple[str, int], ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.larger = tuple((re.compile(pattern), size) for pattern, size in larger)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((size for pattern, size in self.larger if pattern.match(scope.get("path", ""))), self.limit)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(send)
                return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = b'{"type":"about:blank","title":"Request body too large","status":413,' \
               b'"errors":[{"field":"body","message":"body too large"}]}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def _checkpoints(platform: Platform) -> None:
    """Sign a checkpoint once ``checkpoint_seconds`` passed or ``checkpoint_events`` events were
    appended since the last one, whichever comes first (docs/THREATS.md, "Breach response":
    events not yet covered by a signed checkpoint could be deleted unseen). Every worker of
    every instance runs it; only the holder of the signer's lease signs (store/leases.py: one
    process on the database), the others take the lease over when it dies. Looks at the log's
    size every tick (one indexed read)."""
    settings = platform.settings
    tick = min(0.25, settings.checkpoint_seconds / 5)
    loop = asyncio.get_running_loop()
    signed, since = -1, loop.time()
    while True:
        await asyncio.sleep(tick)
        try:
            if not await asyncio.to_thread(platform.signer.hold):
                continue
            size = await asyncio.to_thread(platform.audit.size)
            due = size - max(signed, 0) >= settings.checkpoint_events or loop.time() - since >= settings.checkpoint_seconds
            if size != signed and due:
                signed = (await asyncio.to_thread(platform.audit.checkpoint)).size
                since = loop.time()
        except Exception as exc:
            logger.error("checkpoint failed: %s", type(exc).__name__)


async def _housekeeping(platform: Platform) -> None:
    """Detection's counters older than their longest window are dropped, the accounts'
    baselines learned (once a day), the insurers' proof-less volumes watched, PostgreSQL's
    planner statistics refreshed: every ``housekeeping_seconds``."""
    while True:
        await asyncio.sleep(platform.settings.housekeeping_seconds)
        try:
            await asyncio.to_thread(platform.detection.forget_old)
            await asyncio.to_thread(platform.audit.archiving.ensure_partitions)  # the log's months ahead
            await asyncio.to_thread(platform.refresh_statistics)  # PostgreSQL's planner, on the same beat
            for alert in await asyncio.to_thread(platform.detection.watch):  # baselines, insurer-wide volumes
                logger.warning("%s", alert)  # ids and counts only
            for alert in await asyncio.to_thread(platform.incidents.remind):  # Art. 33's 72 h
                logger.warning("%s", alert)  # ids and hours only
        except Exception as exc:
            logger.error("detection housekeeping failed: %s", type(exc).__name__)


def create_app(platform: Platform) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        member_files.clear_uploads(platform.settings.var_dir / "uploads")  # left by a stopped process
        try:  # the log's partitions of this month and the next two (PostgreSQL), before any traffic
            await asyncio.to_thread(platform.audit.archiving.ensure_partitions)
        except Exception as exc:  # the DEFAULT partition takes the events meanwhile: never fatal
            logger.error("log partitions not ensured: %s", type(exc).__name__)
        tasks = [asyncio.create_task(_housekeeping(platform))]
        if platform.settings.checkpoint_seconds > 0:
            tasks.append(asyncio.create_task(_checkpoints(platform)))
        stop = asyncio.Event()
        if platform.settings.relay:  # each worker relays too: leases keep them apart (services/relay.py)
            tasks.append(asyncio.create_task(platform.relay.run(stop)))
        yield
        stop.set()
        for task in tasks:
            task.cancel()
        platform.signer.release()  # another process signs at once

    app = FastAPI(
        lifespan=lifespan,
        title="tierspayant",
        version=__version__,
        description="Breach-resistant tiers payant: rights check (IDB), calculation and PEC (CLC), "
                    "invoices (DRE), adjudication and payment runs. Errors are RFC 9457 problem details.",
        docs_url=None,  # api/openapi.py serves Swagger UI and ReDoc offline
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.platform = platform
    problems.install(app)
    openapi.install(app)
    for module in (core, accounts, passkeys, care, lists, payments, bank_details, reference, beneficiaries,
                   member_files, review, networks, log, security, incidents, delivery):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=platform.settings.max_body_bytes,
                       larger=((member_files.UPLOAD_PATH, platform.settings.max_member_file_bytes),))
    settings = platform.settings
    app.add_middleware(RateGate, rate=settings.session_rate, burst=settings.session_burst,  # before any lookup
                       in_flight=settings.session_in_flight, invalid_per_source=settings.invalid_tokens_per_source,
                       hold=settings.flood_hold_seconds)
    app.add_middleware(SourceGate, clock=platform.clock,  # outermost: a throttled source costs nothing more
                       hold=timedelta(seconds=platform.settings.sign_in_hold_seconds))
    app.state.readiness = Readiness(platform)  # /v1/health/ready (api/readiness.py)
    metrics.install(app, platform)  # /metrics; its middleware outermost: the gates' answers are counted too
    return app
