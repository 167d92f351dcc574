"""Operations (issue 19, point 4), on SQLite and PostgreSQL: /metrics parsed with the Prometheus
parser counts rights checks by outcome and requests by route template (never a path's
identifier), reads its gauges from the store, and answers only its token's bearer;
/v1/health/ready says 503 and which part -- the database or the log -- when one cannot be
written, and 200 again once it can. (The JSON logs' scan: tests/integration/test_dump_scan.py;
the server's workers added up: tests/e2e/test_metrics_workers.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, event, select, text

from tests.conftest import BACKENDS, World, database_url, fresh_patients, make_world
from tierspayant.api import readiness
from tierspayant.security.tokens import hash_token

TOKEN = "ops-test-token-0123456789abcdef"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module", params=BACKENDS)
def ops(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    var_dir = tmp_path_factory.mktemp(f"ops-{request.param}")
    world = make_world(database_url(request, request.param, var_dir), var_dir, request.param, beneficiaries=120,
                       metrics_token_sha256=hash_token(TOKEN))
    yield world
    world.platform.engine.dispose()


def scrape(world: World) -> Samples:
    answer = world.client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain"), answer.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def ended_rights_patient(world: World) -> dict[str, str]:
    """A beneficiary of insurer 1 whose every rights period ended: found, not covered."""
    from tierspayant.store import tables as t

    p = t.rights_periods.c
    today = world.clock.now().date()
    open_ = select(p.beneficiary_id).where(p.end_date.is_(None) | (p.end_date >= today))
    query = (select(t.beneficiaries.c.id).join(t.rights_periods, p.beneficiary_id == t.beneficiaries.c.id)
             .where(t.beneficiaries.c.insurer_id == 1, ~t.beneficiaries.c.id.in_(open_)).limit(1))
    with world.platform.engine.connect() as conn:
        beneficiary_id = conn.execute(query).scalar_one()
    with world.platform.uow(readonly=True) as tx:
        b = tx.beneficiaries.beneficiary(beneficiary_id)
    assert b is not None
    return {"amc_number": "990000011", "member_number": b.member_number, "nir": b.nir,
            "birth_date": b.birth_date.isoformat()}


def test_metrics_count_rights_checks_by_outcome_and_requests_by_route(ops: World) -> None:
    optician, officer = ops.headers("optique.demo"), ops.headers("securite.demo")
    assert ops.client.get("/metrics").status_code == 404  # no token: as if there were no such path
    assert ops.client.get("/metrics", headers={"authorization": "Bearer not-the-token"}).status_code == 404
    covered, other = fresh_patients(ops, count=2)
    nobody = {**covered, "nir": "180017512345660", "member_number": "0000999999"}  # a valid NIR key, no one
    today = ops.clock.now().date().isoformat()
    before = scrape(ops)

    def check(patient: dict[str, str], **more: str) -> int:
        return ops.client.post("/v1/rights-checks", headers=optician, json={
            **patient, "date_of_care": today, "category": "optical", **more}).status_code

    assert [check(covered), check(other), check(covered), check(nobody), check(ended_rights_patient(ops)),
            check(other, presence_proof="not-a-proof")] == [200, 200, 200, 200, 200, 403]
    assert ops.client.get("/v1/invoices/F-OPS-SECRET-42", headers=optician).status_code == 404
    assert ops.client.get("/v1/no-such-route/F-OPS-SECRET-43").status_code == 404
    assert ops.client.request("BREW-F-OPS-SECRET-44", "/v1/health").status_code == 405  # any method may come
    after = scrape(ops)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    counted = {o: moved("tiers_rights_checks_total", outcome=o)
               for o in ("covered", "not_covered", "not_found", "presence_required", "contained")}
    assert counted == {"covered": 3, "not_covered": 1, "not_found": 1, "presence_required": 1, "contained": 0}
    rights = {"route": "/v1/rights-checks", "method": "POST"}
    assert moved("tiers_http_requests_total", **rights, status="2xx") == 5
    assert moved("tiers_http_requests_total", **rights, status="4xx") == 1
    assert moved("tiers_http_request_duration_seconds_count", **rights) == 6
    assert moved("tiers_http_request_duration_seconds_sum", **rights) > 0
    assert moved("tiers_http_requests_total", route="/v1/invoices/{invoice_number}", method="GET", status="4xx") == 1
    assert moved("tiers_http_requests_total", route="unmatched", method="GET", status="4xx") == 1
    assert moved("tiers_http_requests_total", route="/v1/health", method="other", status="4xx") == 1
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in after.items()
                     if name == "tiers_http_request_duration_seconds_bucket" and {**dict(labels), "le": ""}
                     == {**rights, "le": ""})
    assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1][1] >= 6  # cumulative
    every_label = {v for (_, labels) in after for _, v in labels}
    assert not [v for v in every_label if "SECRET" in v or covered["nir"] in v]  # templates, never paths

    # An officer's kill switch on the insurer: the next check is refused and counted contained.
    switched = ops.client.post("/v1/security/containments", headers=officer,
                               json={"scope": "insurer", "target_id": 1, "reason": "ops test"})
    assert switched.status_code == 201, switched.text
    ops.clock.advance(seconds=3)  # past the workers' 2-s cache (services/detection.py)
    assert check(covered) == 503  # "Route closed" (api/problems.py)
    contained = scrape(ops)
    assert value(contained, "tiers_rights_checks_total", outcome="contained") \
        - value(after, "tiers_rights_checks_total", outcome="contained") == 1
    assert value(contained, "tiers_containments_active", scope="insurer", action="suspend") == 1
    assert value(contained, "tiers_containments_active", scope="account", action="throttle") == 0
    lifted = ops.client.post(f"/v1/security/containments/{switched.json()['id']}/lift", headers=officer)
    assert lifted.status_code == 204
    assert value(scrape(ops), "tiers_containments_active", scope="insurer", action="suspend") == 0


def test_metrics_read_the_log_and_the_keys_from_the_store(ops: World) -> None:
    signed = ops.platform.audit.checkpoint()
    ops.clock.advance(seconds=40)
    samples = scrape(ops)
    size = ops.platform.audit.size()
    assert value(samples, "tiers_store_readable") == 1
    assert value(samples, "tiers_log_size_events") == size > 0
    assert value(samples, "tiers_log_checkpoint_size_events") == signed.size
    assert value(samples, "tiers_log_uncovered_events") == size - signed.size
    assert value(samples, "tiers_log_checkpoint_age_seconds") == pytest.approx(40, abs=1)
    assert value(samples, "tiers_data_key_versions", owner="0") == 1  # the platform's own key
    assert value(samples, "tiers_data_key_current_version", owner="1") >= 1
    assert ("tiers_write_queue_depth", frozenset()) in samples


@contextmanager
def unwritable(world: World) -> Iterator[None]:
    """The database refuses writes: PostgreSQL read-only by default for new sessions, SQLite's
    connections ``query_only`` (the file's mode would not stop root)."""
    engine = world.platform.engine
    if world.backend == "postgresql":
        name = engine.url.database
        admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        engine.dispose()
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
            admin.dispose()
            engine.dispose()
        return

    def read_only(dbapi_connection: object, _: object) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]

    engine.dispose()
    event.listen(engine, "connect", read_only)
    try:
        yield
    finally:
        event.remove(engine, "connect", read_only)
        engine.dispose()


@contextmanager
def log_refused(world: World) -> Iterator[None]:
    """The database writes, the transparency log's insert fails (a trigger refusing it)."""
    with world.platform.engine.begin() as conn:
        if world.backend == "postgresql":
            conn.execute(text("CREATE FUNCTION ops_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$BEGIN RAISE EXCEPTION 'refused by the test'; END$$"))
            conn.execute(text("CREATE TRIGGER ops_refuse BEFORE INSERT ON audit_events FOR EACH ROW "
                              "EXECUTE FUNCTION ops_refuse()"))
        else:
            conn.execute(text("CREATE TRIGGER ops_refuse BEFORE INSERT ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
    try:
        yield
    finally:
        with world.platform.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER ops_refuse" + (" ON audit_events" if world.backend == "postgresql"
                                                            else "")))
            if world.backend == "postgresql":
                conn.execute(text("DROP FUNCTION ops_refuse()"))
        world.platform.engine.dispose()  # prepared statements planned with the trigger


def test_ready_says_which_part_cannot_be_written(ops: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "PROBE_SECONDS", 0.0)  # probe at every call (else once a second)
    size = ops.platform.audit.size()
    ready = ops.client.get("/v1/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"database": "writable", "log": "writable"})
    with unwritable(ops):
        refused = ops.client.get("/v1/health/ready")
        assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
        assert (refused.json()["database"], refused.json()["log"]) == ("unwritable", "unknown"), refused.json()
        assert refused.headers["retry-after"]
        assert value(scrape(ops), "tiers_store_readable") == 1  # reads still work: the gauges too
    with log_refused(ops):
        refused = ops.client.get("/v1/health/ready")
        assert refused.status_code == 503
        assert (refused.json()["database"], refused.json()["log"]) == ("writable", "unwritable"), refused.json()
    again = ops.client.get("/v1/health/ready")
    assert (again.status_code, again.json()) == (200, {"database": "writable", "log": "writable"})
    assert ops.platform.audit.size() == size  # the probes wrote nothing into the log
    assert ops.client.get("/v1/health").json() == {"status": "ok"}  # the trivial one stays trivial
