"""Engines for SQLite (default, a file under ``var/``) and PostgreSQL (by URL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

#: How long a writer waits for SQLite's write lock before giving up, and how often it retries.
WRITE_LOCK_TIMEOUT = 30.0
_RETRY_SLEEP = 0.0002
#: PostgreSQL: the advisory lock every write transaction takes (an arbitrary, fixed key).
WRITERS_LOCK = 0x7469657273


def _begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """Take SQLite's write lock, retrying every 0.2 ms. SQLite's own busy handler sleeps 1, 2,
    5, 10... ms between tries, which with two server processes cost a third of the rights
    check's throughput (bench/RESULTS.md); a write transaction here holds the lock for well
    under a millisecond."""
    deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_RETRY_SLEEP)


#: Tables that grow from nothing within hours on the rights check's path.
FAST_GROWING = ("detection_seen", "detection_org_seen", "detection_slots", "proofless_seen", "proofless_days")


def refresh_statistics(engine: Engine) -> None:
    """PostgreSQL: ANALYZE the fast-growing tables, outside any transaction (a write unit of
    work would hold the writers' lock meanwhile), skipping one another worker is analysing.
    With an empty table's statistics the planner sent detection's hour aggregate through the
    primary key (every row of the account's day): a check slowed from 6 to 10 ms over 6,000
    (bench/README.md, issue 13); autovacuum's own runs come too late. Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {', '.join(FAST_GROWING)}")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work tried to write (a bug: the write was rolled back)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout, foreign keys, and write
    transactions that take the lock at BEGIN (``BEGIN IMMEDIATE``), so that two writers queue
    instead of failing half-way."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8,
                               pool_reset_on_return=None,  # every unit of work ends in COMMIT or ROLLBACK
                               # The connection used last first: its page cache holds what it wrote
                               # (SQLite drops a connection's cache when another one wrote), so a
                               # rights check's reads find their pages warm (bench/README.md).
                               pool_use_lifo=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=0")  # we wait for the write lock ourselves
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            driver = connection.connection.driver_connection
            if connection.get_execution_options().get("tiers_readonly", False):
                driver.execute("BEGIN")
                connection.info["tiers_changes"] = driver.total_changes
                return
            connection.info.pop("tiers_changes", None)
            _begin_immediate(driver)

        @event.listens_for(engine, "commit")
        def _on_commit(connection: Any) -> None:
            """A write in a read-only unit of work is an error (services/ports UnitOfWork): it is
            rolled back, not committed. Counted, not forbidden up front: ``PRAGMA query_only``
            expires every prepared statement of the connection, and toggling it on each unit of
            work re-prepared each statement's first run (60 us apiece; bench/README.md, issue 13)."""
            before = connection.info.pop("tiers_changes", None)
            driver = connection.connection.driver_connection
            if before is not None and driver.total_changes != before:
                driver.execute("ROLLBACK")
                raise ReadOnlyViolation("a read-only unit of work wrote; rolled back")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _serialise_writers(connection: Any) -> None:
        """Write transactions queue for one lock, as SQLite's BEGIN IMMEDIATE makes them do.
        Without it, group commits from two server processes took the same detection counters
        and account rows in different orders and deadlocked ("group commit of N writes failed"
        in bench/http_bench.py --postgres); readers never take it."""
        if not connection.get_execution_options().get("tiers_readonly", False):
            connection.connection.driver_connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))

    return engine
