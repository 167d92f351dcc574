"""Engines for SQLite (default, a file under ``var/``) and PostgreSQL (by URL)."""

from __future__ import annotations

import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

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
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_when_idle(engine)

    @event.listens_for(engine, "begin")
    def _serialise_writers(connection: Any) -> None:
        """Write transactions queue for one lock, as SQLite's BEGIN IMMEDIATE makes them do.
        Without it, group commits from two server processes took the same detection counters
        and account rows in different orders and deadlocked ("group commit of N writes failed"
        in bench/http_bench.py --postgres); readers never take it."""
        if not connection.get_execution_options().get("tiers_readonly", False):
            connection.connection.driver_connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))

    return engine


#: A pooled PostgreSQL connection idle for longer than this is pinged before use (below).
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only if it sat idle in the pool (SQLAlchemy's "pessimistic"
    recipe, narrowed). ``pool_pre_ping`` pinged on every checkout: a round trip per unit of
    work, three per rights check (bench/README.md, issue 19). A connection in constant use is
    known good; one that waited past ``PING_AFTER_IDLE`` may have been cut (a database restart,
    a proxy's idle timeout) and is replaced before a request sees it. A connection cut while in
    use fails that unit of work, and SQLAlchemy then discards every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _note_return(_dbapi_connection: Any, record: Any) -> None:
        record.info["tiers_returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("tiers_returned", 0.0) <= PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError() from exc  # the pool retries with a new connection


_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def reader_of(engine: Engine) -> Engine | None:
    """PostgreSQL: an engine for read-only units of work, on connections in autocommit whose
    every statement is a read-only transaction of its own (``default_transaction_read_only``):
    no BEGIN and COMMIT round trips (two of a unit of work's four), a stray write still refused
    by the database. What readers see is unchanged: under READ COMMITTED each statement already
    takes its own snapshot inside a transaction (PostgreSQL manual, 13.2.1). Disposed with its
    engine. None on SQLite, whose read transaction keeps one snapshot across statements (WAL)."""
    if engine.dialect.name != "postgresql":
        return None
    reader = _READERS.get(engine)
    if reader is None:
        reader = create_engine(engine.url, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT",
                               connect_args={"options": "-c default_transaction_read_only=on"})
        _ping_when_idle(reader)
        _READERS[engine] = reader
        event.listen(engine, "engine_disposed", lambda _engine: reader.dispose())
    return reader
