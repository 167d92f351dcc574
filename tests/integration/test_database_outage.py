"""The database away for a moment, for real, on SQLite and PostgreSQL (issue 16, point 6): every
refused request is a 503 with Retry-After, never a 500, nothing is half-written, and the
platform recovers by itself once the database is back. PostgreSQL: the test database refuses
connections and its sessions are terminated (what a restart does to the server's pool);
SQLite: the database file may not grow (``max_page_count``: SQLite's own "database or disk is
full")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event, text

from tests.conftest import World, fresh_patients


@contextmanager
def outage(world: World) -> Iterator[None]:
    engine = world.platform.engine
    if world.backend == "postgresql":
        name = engine.url.database
        admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        return

    def full(dbapi_connection: object, _: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    engine.dispose()
    event.listen(engine, "connect", full)
    try:
        yield
    finally:
        event.remove(engine, "connect", full)
        engine.dispose()


def test_a_database_away_answers_503_and_the_platform_recovers(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=500)
    headers = world.headers("optique.demo")
    patients = fresh_patients(world, 1, 34)
    with world.platform.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM engagements")).scalar_one()

    def check(n: int) -> int:
        return world.client.post("/v1/rights-checks", headers=headers, json={
            **patients[n], "date_of_care": world.clock.now().date().isoformat(), "category": "optical"}).status_code

    assert check(0) == 200
    with outage(world):
        answers = []
        for n in range(1, 31):  # enough writes to fill SQLite's last free pages
            response = world.client.post("/v1/rights-checks", headers=headers, json={
                **patients[n], "date_of_care": world.clock.now().date().isoformat(), "category": "optical"})
            answers.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["retry-after"] and response.json()["title"] == "Service unavailable"
        assert 500 not in answers and set(answers) <= {200, 503} and 503 in answers, answers
    world.clock.advance(seconds=1)
    assert check(31) == 200  # back by itself: no restart
    assert check(32) == 200
    # Nothing half-written: every engagement answered is there, none refused got one.
    with world.platform.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM engagements")).scalar_one()
    assert count == before + 3 + answers.count(200)
