"""``services.ports.operations.Lease``: one holder among every process on the same database.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``, PostgreSQL manual 9.27.10)
on a connection of its own, outside the pool, kept for as long as the role is held: the lock
ends with the connection, so a process that exits, dies, hangs (the server ends a session idle
for 30 s) or loses the database (TCP keepalives) frees the role, and another takes it at its
next ``hold``. A session pooler in transaction mode (PgBouncer) would break this: the lease
needs a direct connection. Several ``tiers serve`` instances on several machines
sharing one database elect one signer this way.

SQLite: an exclusive ``flock`` on a file beside the database: the processes sharing a SQLite
file share a machine, and the kernel frees the lock with the process."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

#: The advisory-lock key of the checkpoint signer ("signer" in ASCII; WRITERS_LOCK is another).
SIGNER_LOCK = 0x7369676E6572


class PostgresLease:
    def __init__(self, engine: Engine, key: int = SIGNER_LOCK) -> None:
        self.url = make_url(engine.url).set(drivername="postgresql")
        self.key = key
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lock = threading.Lock()
        self._closed = False

    def hold(self) -> bool:
        """One round trip on the lease's own connection: the holder checks it is still there,
        the others try the lock again on theirs (no new connection every tick)."""
        with self._lock:
            if self._closed:
                return False
            try:
                conn = self._conn or self._connect()
                if self._held:
                    conn.execute("SELECT 1")
                    return True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                self._held = bool(row and row[0])
                return self._held
            except psycopg.Error:
                self._drop()  # the lock, if it was ours, ended with the session
                return False

    def _connect(self) -> psycopg.Connection[Any]:
        # The server ends a session idle for 30 s (PostgreSQL 14+): a holder whose process is
        # stuck stops asking every tick, and its lock is freed for another. TCP keepalives end
        # one whose host died or was cut off within about 20 s, on both sides.
        self._conn = psycopg.connect(
            self.url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5,
            application_name="tierspayant-lease", options="-c idle_session_timeout=30s",
            keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=10_000)
        return self._conn

    def release(self) -> None:
        with self._lock:
            self._closed = True
            if self._held and self._conn is not None:
                # Unlocked before closing: a closed socket's session ends (and frees the lock)
                # a moment later on the server, when a successor may already be asking.
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self._drop()

    def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()  # the session's advisory locks end with it


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._closed = False

    def hold(self) -> bool:
        if self._closed:
            return False
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor ends the flock


def signer_lease(engine: Engine, var_dir: Path) -> PostgresLease | FileLease:
    """The checkpoint signer's lease for this database."""
    if engine.dialect.name == "postgresql":
        return PostgresLease(engine)
    database = make_url(engine.url).database
    if database and database != ":memory:":
        return FileLease(Path(database).with_name(Path(database).name + ".signer.lock"))
    return FileLease(var_dir / "signer.lock")
