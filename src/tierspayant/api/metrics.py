"""``/metrics`` in the Prometheus text format (issue 19, point 4; README "Operations").

What is counted, and where:

- every HTTP request, by route *template* (``/v1/invoices/{invoice_number}``, never the path:
  no identifier in a label, a bounded number of series), method and status class, with its
  latency: :class:`RequestMetrics`, a pure ASGI middleware (no ``BaseHTTPMiddleware``: the
  rights check is measured against the trivial endpoint, bench/http_bench.py);
- rights checks by outcome, told by the use case (``RightsService.observe``: services import no
  metrics library);
- the write queue's depth (group commit), sampled in each worker;
- at scrape time, from the store by cheap queries (``Platform.operations``): the log's size,
  the latest checkpoint's size and age, the containments in force, the data keys' versions.

Several server processes (granian's workers) answer one address, so a scrape reaches one of
them: under ``tiers serve`` every worker writes its counts to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode; ``var/metrics/<port>``,
emptied at start) and the scraped one adds up every worker's, the dead ones' counts included (a
counter never goes back); a worker's sampled gauge goes with it (``mark_process_dead``, at its
shutdown or, killed, at the next scrape). In one process (tests, ``TestClient``) the counts live
in the application's own registry.

Who may read it: the bearer token whose SHA-256 is ``TIERS_METRICS_TOKEN_SHA256``; without
one, only a direct loopback client. Anyone else gets the 404 of an unknown path. The counts
hold no personal data, but they are operational facts -- and rights checks' outcomes counted
apart (not found, not covered) are what the answer itself never tells (docs/THREATS.md T3)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from time import perf_counter
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tierspayant.api.problems import problem
from tierspayant.bootstrap import Platform
from tierspayant.security.tokens import hash_token, same_token
from tierspayant.services.rights import RightsOutcome

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
logger = logging.getLogger("tierspayant.api")

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: Requests answered before routing (the gates' 429, a 413) or matching no route: one label.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds: the rights check answers in milliseconds, a sign-in takes Argon2id's ~0.1 s, the
#: tarpits hold 1 s and 30 s.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The containments services/detection.py decides (and officers' suspensions of any scope):
#: reported at 0 when none is in force, so that an alert on "> 0" has a series to watch.
KNOWN_CONTAINMENTS = (("session", "step_up"), ("session", "suspend"), ("account", "throttle"),
                      ("account", "suspend"), ("organisation", "step_up"), ("organisation", "suspend"),
                      ("insurer", "suspend"))
QUEUE_SAMPLE_SECONDS = 0.5
#: A proxy's marks: without a token, a loopback client that came through one is refused (a
#: proxy on the same host would make every internet client look local).
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def prepare_directory(path: Path) -> None:
    """The multiprocess directory of one ``tiers serve``, emptied (the counts of a previous
    run would be added to this one's)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)


class Metrics:
    """The counts of one process; in multiprocess mode, written to its files."""

    def __init__(self, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        if multiprocess and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus-client picks its value class when first imported: imported before
            # ``tiers serve`` set the directory, it would count in memory, per worker.
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.registry = None if multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter("tiers_http_requests", "HTTP requests answered, by route template, method and "
                                "status class", ("route", "method", "status"), registry=registry)
        self.latency = Histogram("tiers_http_request_duration_seconds", "Time to answer, by route template "
                                 "and method", ("route", "method"), buckets=BUCKETS, registry=registry)
        self.rights = Counter("tiers_rights_checks", "Rights checks by outcome (the answer says only covered or "
                              "not)", ("outcome",), registry=registry)
        self.queue = Gauge("tiers_write_queue_depth", "Writes waiting for the group commit, summed over live "
                           "workers (each sampled twice a second)", registry=registry, multiprocess_mode="livesum")
        self._outcomes = {outcome: self.rights.labels(outcome.value) for outcome in RightsOutcome}  # 0 at start
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def rights_outcome(self, outcome: RightsOutcome) -> None:
        self._outcomes[outcome].inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else "other", status // 100)  # bounded: any method may come
        children = self._children.get(key)
        if children is None:  # labels() once per series: it locks and builds a tuple
            children = self._children[key] = (self.requests.labels(route, key[1], f"{key[2]}xx"),
                                              self.latency.labels(route, key[1]))
        children[0].inc()
        children[1].observe(seconds)


class StoreCollector(Collector):
    """The gauges read from the store at scrape time (``Platform.operations``: one read-only
    transaction, cheap queries; services/ports/operations.py)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Metric]:
        readable = GaugeMetricFamily("tiers_store_readable", "1 when the store's gauges below could be read")
        try:
            now = self.platform.clock.now()
            readings = self.platform.operations.readings(now)
        except Exception as exc:  # the scrape still answers: the database's absence is a reading
            logger.warning("metrics: the store could not be read (%s)", type(exc).__name__)
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        yield GaugeMetricFamily("tiers_log_size_events", "Events in the transparency log (its tree size)",
                                value=readings.log_size)
        signed = readings.checkpoint_size or 0
        yield GaugeMetricFamily("tiers_log_checkpoint_size_events", "Events covered by the latest signed "
                                "checkpoint", value=signed)
        yield GaugeMetricFamily("tiers_log_uncovered_events", "Events not yet covered by a signed checkpoint "
                                "(could be deleted unseen: docs/THREATS.md)", value=readings.log_size - signed)
        if readings.checkpoint_at is not None:
            yield GaugeMetricFamily("tiers_log_checkpoint_age_seconds", "Seconds since the latest checkpoint was "
                                    "signed", value=max(0.0, (now - readings.checkpoint_at).total_seconds()))
        active = GaugeMetricFamily("tiers_containments_active", "Containments in force, by scope and action",
                                   labels=("scope", "action"))
        counts = dict(readings.containments)
        for key in sorted(set(KNOWN_CONTAINMENTS) | set(counts)):
            active.add_metric(list(key), counts.get(key, 0))
        yield active
        versions = GaugeMetricFamily("tiers_data_key_versions", "Stored data-key versions per key owner "
                                     "(2 while a rotation re-encrypts; owner 0: the platform)", labels=("owner",))
        current = GaugeMetricFamily("tiers_data_key_current_version", "The version taking writes, per key owner",
                                    labels=("owner",))
        for owner in readings.keys:
            versions.add_metric([str(owner.owner)], owner.count)
            current.add_metric([str(owner.owner)], owner.current)
        yield versions
        yield current


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def may_read(request: Request, token_sha256: str) -> bool:
    """Who reads /metrics (README "Operations"): the bearer of the token whose SHA-256 is
    configured (constant-time comparison), else a loopback client not behind a proxy."""
    if token_sha256:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and same_token(hash_token(token.strip()),
                                                                                 token_sha256)
    host = request.client.host if request.client else ""
    return _loopback(host) and not any(name in request.headers for name in FORWARDED)


def _prune_dead_workers(directory: str) -> None:
    """Forget the sampled gauges of workers that died without their shutdown (a kill -9): their
    counters stay, counted (prometheus-client's multiprocess mode)."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


class RequestMetrics:
    """Counts and times every request by route template, outermost (the gates' answers too);
    samples the write queue's depth in each worker while it serves (its lifespan)."""

    def __init__(self, app: Any, metrics: Metrics, platform: Platform, root: FastAPI) -> None:
        self.app = app
        self.metrics = metrics
        self.platform = platform
        self.root = root
        self._templates: dict[int, str] = {}
        self._sampler: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.metrics.multiprocess:
                await self.app(scope, self._lifespan(receive), send)
            else:
                await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500  # an exception that escaped every handler

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.request(self._route(scope), scope["method"], status, perf_counter() - start)

    def _route(self, scope: Scope) -> str:
        """The matched route's template: FastAPI's routes put themselves in the scope; the
        app's plain routes (/docs, /metrics) and mounts (static files) are found by endpoint."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        found = self._templates.get(id(endpoint))
        if found is None:
            for route in self.root.router.routes:
                if isinstance(route, Route):
                    self._templates[id(route.endpoint)] = route.path
                elif isinstance(route, Mount):
                    self._templates[id(route.app)] = route.path + "/{path}"
            found = self._templates.setdefault(id(endpoint), UNMATCHED)
        return found

    def _lifespan(self, receive: Receive) -> Receive:
        async def receiving() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._sampler = asyncio.get_running_loop().create_task(self._sample())
            elif message["type"] == "lifespan.shutdown":
                if self._sampler is not None:
                    self._sampler.cancel()
                directory = os.environ.get(MULTIPROC_VARIABLE)
                if directory:  # this worker's sampled gauge goes with it
                    with contextlib.suppress(OSError):
                        mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
            return message

        return receiving

    async def _sample(self) -> None:
        while True:
            self.metrics.queue.set(queue_depth(self.platform))
            await asyncio.sleep(QUEUE_SAMPLE_SECONDS)


def queue_depth(platform: Platform) -> int:
    """Writes waiting in this process's group commit (store/write_queue.py)."""
    return platform.rights.writes.depth


def install(app: FastAPI, platform: Platform) -> Metrics:
    """Count on ``app`` and serve /metrics (outside the OpenAPI document: not the API)."""
    directory = os.environ.get(MULTIPROC_VARIABLE) or None
    metrics = Metrics(multiprocess=directory is not None)
    platform.rights.observe = metrics.rights_outcome
    if directory is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    else:
        assert metrics.registry is not None
        registry = metrics.registry
    registry.register(StoreCollector(platform))
    token_sha256 = platform.settings.metrics_token_sha256

    def scrape(request: Request) -> Response:  # a plain function: Starlette runs it in a thread
        if not may_read(request, token_sha256):
            return problem(404, "Not Found")
        metrics.queue.set(queue_depth(platform))  # this worker's, exact now
        if directory is not None:
            _prune_dead_workers(directory)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"cache-control": "no-store"})

    app.add_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics, metrics=metrics, platform=platform, root=app)
    return metrics
