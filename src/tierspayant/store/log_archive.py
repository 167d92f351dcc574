"""``LogStorage`` in SQL (services/ports/log_storage.py): the access log's monthly partitions on
PostgreSQL, created ahead, and old months moved out to compressed COPY files and back.

Archive files are COPY's text format, gzip-compressed, one per partition plus one for the
later-dated events that go with them, under ``var/archive`` (0600; they hold what the log
holds: pseudonyms, never an identity). Long reads and loads run on a connection of their own
that takes no writers' lock; the short steps that change what the log holds (detach and drop,
attach) take it, so no append is in flight meanwhile (store/database.py)."""

# ruff: noqa: S608 -- DDL takes no parameters: the names are the log's own partitions, the values
# integers and dates this module formats (store/bulk.py likewise).

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tierspayant.security.digests import file_digest
from tierspayant.services.ports.log_storage import (
    Archive,
    ArchiveFile,
    ArchivePlan,
    ArchiveRefused,
    Partition,
    PartitionsEnsured,
)
from tierspayant.store import log_partitions as lp
from tierspayant.store import tables as t

_COLUMNS = ", ".join(lp.COLUMNS)


class SqlLogStorage:
    def __init__(self, engine: Engine, directory: Path) -> None:
        self.engine = engine
        self.directory = directory

    @property
    def partitioned(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _reading(self) -> Any:
        """A read-only connection: it takes no writers' lock (store/database.py)."""
        return self.engine.connect().execution_options(tiers_readonly=True, postgresql_readonly=True)

    @contextmanager
    def _own(self, begin: str) -> Iterator[Any]:
        """A driver cursor in a transaction of its own that takes no writers' lock (a long
        read or a load into tables no appender knows), committed at the end, rolled back on
        an error."""
        raw = self.engine.raw_connection()
        driver: Any = raw.driver_connection
        driver.autocommit = True  # the transaction is ours: BEGIN with its own options
        try:
            cursor = driver.cursor()
            cursor.execute(begin)
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        finally:
            driver.autocommit = False
            raw.close()

    def ensure(self, months: Sequence[datetime], adopt_limit: int) -> PartitionsEnsured:
        if not self.partitioned:
            return PartitionsEnsured([], 0, [])
        # Without the writers' lock (store/database.py): the appenders never wait for a partition
        # being attached (SHARE UPDATE EXCLUSIVE), and PARTITIONS_LOCK keeps two processes apart.
        with self.engine.connect().execution_options(tiers_readonly=True) as conn, conn.begin():
            created, waiting = lp.ensure_months(conn, list(months), adopt_limit)
        return PartitionsEnsured(created, sum(waiting.values()), sorted(waiting))

    def partitions(self) -> list[Partition]:
        if not self.partitioned:
            return []
        with self._reading() as conn, conn.begin():
            return [self._described(conn, b) for b in lp.partition_bounds(conn)]

    @staticmethod
    def _described(conn: Connection, b: lp.Bounds) -> Partition:
        estimate, size = lp.run(conn, f"SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class "
                                      f"WHERE oid = '{b.name}'::regclass").fetchone()
        if b.lower is None or estimate < 0:  # the DEFAULT partition (or one never analysed): counted
            estimate = lp.run(conn, f"SELECT count(*) FROM {b.name}").fetchone()[0]
        return Partition(b.name, b.lower, b.upper, int(estimate), int(size))

    def _cut(self, conn: Connection) -> int:
        a = t.audit_archives.c
        value = conn.execute(select(a.seq_to).where(a.restored_at.is_(None)).order_by(a.seq_to.desc()).limit(1)).scalar()
        return int(value or 0)

    def plan_archive(self, before: datetime) -> ArchivePlan | None:
        if not self.partitioned:
            raise ArchiveRefused("SQLite keeps the log in one table: archiving is PostgreSQL's (its partitions)")
        with self._reading() as conn, conn.begin():
            chosen = [b for b in lp.partition_bounds(conn) if b.upper is not None and b.upper <= before]
            if not chosen:
                return None
            seq_from = self._cut(conn)
            tops = [lp.run(conn, f"SELECT max(seq) FROM {b.name}").fetchone()[0] for b in chosen]
            seq_to = max([seq_from - 1, *(top for top in tops if top is not None)]) + 1
            default_before = lp.run(conn, f"SELECT count(*) FROM {lp.DEFAULT} WHERE at < '{lp.literal(before)}'")
            return ArchivePlan(before, [self._described(conn, b) for b in chosen], seq_from, seq_to,
                               int(default_before.fetchone()[0]))

    def write_archive(self, plan: ArchivePlan, at: datetime) -> Archive:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        seen = bytearray(plan.seq_to - plan.seq_from)
        files: list[ArchiveFile] = []
        last_at = plan.before
        stamp = at.strftime("%Y%m%dT%H%M%S")
        # One snapshot for every file, read-only.
        with self._own("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")
            sources = [(p.name, p.lower, p.upper, f"SELECT {_COLUMNS} FROM {p.name} ORDER BY seq") for p in plan.partitions]
            sources.append(("", None, None, f"SELECT {_COLUMNS} FROM {lp.PARENT} WHERE seq >= {plan.seq_from} AND "
                                            f"seq < {plan.seq_to} AND at >= '{lp.literal(plan.before)}' ORDER BY seq"))
            for name, lower, upper, query in sources:
                path = self.directory / f"audit-{stamp}-{name or 'later'}-{plan.seq_from}-{plan.seq_to}.copy.gz"
                count, newest = _copy_out(cursor, query, path, plan.seq_from, seen)
                if not count and not name:  # no later-dated event went with the months
                    path.unlink()
                    continue
                last_at = max(last_at, newest) if newest else last_at
                files.append(ArchiveFile(name, lower, upper, path.name, file_digest(path), count))
        if seen.count(1) != len(seen):
            raise ArchiveRefused(f"leaves {plan.seq_from}..{plan.seq_to - 1} are not each held once: "
                                 "`tiers audit verify` first; nothing was removed")
        later = sum(f.events for f in files if not f.partition)
        with self.engine.begin() as conn:  # the writers' lock: no append in flight
            lp.run(conn, "SET LOCAL lock_timeout = '5s'")
            for p in plan.partitions:
                # An event dated in an archived month appended since the snapshot (a skewed
                # clock) would be dropped with its partition: refused, nothing removed.
                top = lp.run(conn, f"SELECT max(seq) FROM {p.name}").fetchone()[0]
                if top is not None and top >= plan.seq_to:
                    raise ArchiveRefused(f"{p.name} took event {top} meanwhile: nothing was removed")
                lp.run(conn, f"ALTER TABLE {lp.PARENT} DETACH PARTITION {p.name}")
                lp.run(conn, f"DROP TABLE {p.name}")
            deleted = lp.run(conn, f"DELETE FROM {lp.PARENT} WHERE seq >= {plan.seq_from} AND seq < {plan.seq_to}").rowcount
            if deleted != later:
                raise ArchiveRefused(f"{deleted} later-dated events to remove, {later} written: nothing was removed")
            row = conn.execute(insert(t.audit_archives).values(
                seq_from=plan.seq_from, seq_to=plan.seq_to, before=plan.before, last_at=last_at, events=len(seen),
                files=json.dumps([_file_dict(f) for f in files]), archived_at=at).returning(t.audit_archives.c.id))
            archive = Archive(int(row.scalar_one()), plan.seq_from, plan.seq_to, plan.before, last_at, len(seen),
                              files, at, None)
        (self.directory / f"archive-{archive.id}.json").write_text(json.dumps(_manifest(archive), indent=1))
        return archive

    def archives(self) -> list[Archive]:
        with self._reading() as conn, conn.begin():
            rows = conn.execute(select(t.audit_archives).order_by(t.audit_archives.c.id)).all()
        return [Archive(r.id, r.seq_from, r.seq_to, r.before, r.last_at, r.events,
                        [_file_of(f) for f in json.loads(r.files)], r.archived_at, r.restored_at) for r in rows]

    def restore(self, archive: Archive, at: datetime) -> int:
        if not self.partitioned:
            raise ArchiveRefused("SQLite keeps the log in one table: nothing is archived")
        for f in archive.files:
            path = self.directory / f.file
            if not path.exists() or file_digest(path) != f.sha256:
                raise ArchiveRefused(f"{path}: missing or not the file archived (SHA-256 differs)")
        loaded = [f for f in archive.files if f.partition]
        with self._reading() as conn, conn.begin():
            taken = [b for b in lp.partition_bounds(conn) if b.lower is not None and b.upper is not None and any(
                f.lower is not None and f.upper is not None and b.lower < f.upper and f.lower < b.upper for f in loaded)]
        if taken:
            raise ArchiveRefused(f"partitions now cover the archived months: {', '.join(b.name for b in taken)}")
        # Loaded and indexed apart, in a transaction of their own: the log does not see them yet.
        with self._own("BEGIN") as cursor:
            for f in loaded:
                assert f.lower is not None and f.upper is not None
                create, index = lp.loaded_ddl(f.partition, f.lower, f.upper)
                for statement in create:
                    cursor.execute(statement)
                _copy_in(cursor, f.partition, self.directory / f.file)
                for statement in index:
                    cursor.execute(statement)
        with self.engine.begin() as conn:
            lp.run(conn, "SET LOCAL lock_timeout = '5s'")
            for f in loaded:
                assert f.lower is not None and f.upper is not None
                lp.attach_loaded(conn, f.partition, f.lower, f.upper)
            driver: Any = conn.connection.driver_connection
            for f in archive.files:
                if not f.partition:  # the later-dated events: back into their months' partitions
                    _copy_in(driver.cursor(), lp.PARENT, self.directory / f.file)
            a = t.audit_archives.c
            conn.execute(t.audit_archives.update().where(a.id == archive.id).values(restored_at=at))
        return archive.events


def _copy_out(cursor: Any, query: str, path: Path, first: int, seen: bytearray) -> tuple[int, datetime | None]:
    """COPY ``query`` into a gzip file (0600), marking each seq seen; (rows, latest date)."""
    count, newest, rest = 0, "", b""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6) as out, \
            cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        for chunk in copy:
            data = bytes(chunk)
            out.write(data)
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                seq, dated, _ = line.split(b"\t", 2)
                index = int(seq) - first
                if not 0 <= index < len(seen):
                    raise ArchiveRefused(f"leaf {int(seq)} lies outside the archive's range: nothing was removed")
                seen[index] += 1
                newest = max(newest, dated.decode())
                count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count, datetime.fromisoformat(newest).astimezone(UTC) if newest else None


def _copy_in(cursor: Any, table: str, path: Path) -> None:
    with gzip.open(path, "rb") as source, cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
        while data := source.read(1 << 20):
            copy.write(data)


def _file_dict(f: ArchiveFile) -> dict[str, Any]:
    return {"partition": f.partition, "lower": f.lower.isoformat() if f.lower else None,
            "upper": f.upper.isoformat() if f.upper else None, "file": f.file, "sha256": f.sha256, "events": f.events}


def _file_of(d: dict[str, Any]) -> ArchiveFile:
    return ArchiveFile(d["partition"], datetime.fromisoformat(d["lower"]) if d["lower"] else None,
                       datetime.fromisoformat(d["upper"]) if d["upper"] else None, d["file"], d["sha256"], d["events"])


def _manifest(a: Archive) -> dict[str, Any]:
    return {"archive": a.id, "leaves": [a.seq_from, a.seq_to], "before": a.before.isoformat(),
            "last_at": a.last_at.isoformat(), "events": a.events, "files": [_file_dict(f) for f in a.files],
            "archived_at": a.archived_at.isoformat()}
