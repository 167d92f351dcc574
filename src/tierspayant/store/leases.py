"""``services.ports.operations.Lease``: one holder among every process on the same database.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``, PostgreSQL manual 9.27.10)
on a connection of its own, outside the pool, kept for as long as the role is held: the lock
ends with the connection, so a process that dies (or loses the database) frees the role, and
another takes it at its next ``hold``. Several ``tiers serve`` instances on several machines
sharing one database elect one signer this way.

SQLite: an exclusive ``flock`` on a file beside the database: the processes sharing a SQLite
file share a machine, and the kernel frees the lock with the process."""

from __future__ import annotations

import contextlib
import fcntl
import os
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

    def hold(self) -> bool:
        if self._conn is not None:
            try:  # still ours: the lock lives as long as this connection
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                self._drop()
        try:
            conn = psycopg.connect(self.url.render_as_string(hide_password=False), autocommit=True,
                                   application_name="tierspayant-lease", connect_timeout=5)
        except psycopg.Error:
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()  # the session's advisory locks end with it


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def hold(self) -> bool:
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
