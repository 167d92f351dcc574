"""The access log's monthly partitions on PostgreSQL (declarative partitioning, RANGE on ``at``):
the parent's definition, a month's partition created and attached, the DEFAULT partition's
events moved to their month. Used by migration 0026 and by ``SqlLogStorage`` (store/log_archive.py).

A partition is created as a plain table and then attached: ATTACH PARTITION takes only SHARE
UPDATE EXCLUSIVE on the parent (PostgreSQL 12+), so the appenders' inserts never wait for it,
where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE. Every partition gets its own
unique index on ``seq`` (a unique index of the parent would have to include ``at``)."""

# ruff: noqa: S608 -- DDL takes no parameters: the names are the log's own partitions, the values
# integers and dates this module formats (store/bulk.py likewise).

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

PARENT = "audit_events"
DEFAULT = "audit_events_default"
#: The columns, in the order of the COPY files (store/log_archive.py) and of the migration's move.
COLUMNS = ("seq", "at", "tag", "account_id", "organisation_id", "beneficiary", "insurer_id", "entry")
#: Partitions are created by one process at a time (an arbitrary fixed key; the others skip).
PARTITIONS_LOCK = 0x7469657275

logger = logging.getLogger("tierspayant.log")

_PARENT_DDL = f"""CREATE TABLE {PARENT} (
    seq BIGINT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    tag VARCHAR(40) NOT NULL,
    account_id INTEGER,
    organisation_id INTEGER,
    beneficiary VARCHAR(40),
    insurer_id INTEGER,
    entry TEXT NOT NULL
) PARTITION BY RANGE (at)"""

# Partition-local indexes, declared once on the parent (each partition gets its own, and a
# query bounded in time reads only its months'). The beneficiary's history asks for equality
# only: a hash index, 34 bytes an event against 59 for a b-tree on (beneficiary, seq)
# (bench/SCALE-RESULTS.md). Key operations: a partial index, the rights check never pays for it.
#: (name's suffix, definition): the same on a table loaded apart, so that ATTACH adopts them.
INDEXES = (
    ("beneficiary", "USING hash (beneficiary)"),
    ("account", "(account_id, at)"),
    ("organisation", "(organisation_id, at)"),
    ("keys", "(insurer_id, seq) WHERE tag LIKE 'keys:%'"),
)

_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True, slots=True)
class Bounds:
    name: str
    lower: datetime | None  # None: the DEFAULT partition
    upper: datetime | None


def month_of(at: datetime) -> datetime:
    """The first instant of ``at``'s month, UTC."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def literal(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def run(conn: Connection, statement: str) -> Any:
    """A statement as written, on the driver in this transaction: DDL takes no parameters, and
    neither SQLAlchemy's ``:name`` (dates' ``:00``) nor psycopg's ``%`` (``LIKE 'keys:%'``)
    may be read in it. Returns the driver's cursor."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver.execute(statement)


def index_ddl(name: str) -> list[str]:
    """A partition's indexes, named after it: its unique ``seq`` and the parent's, which ATTACH
    then adopts (an index built by ATTACH itself would hold its locks the while)."""
    return [f"CREATE UNIQUE INDEX {name}_seq ON {name} (seq)",
            *(f"CREATE INDEX {name}_{suffix} ON {name} {definition}" for suffix, definition in INDEXES)]


def create_parent(conn: Connection) -> None:
    """The partitioned table, its indexes and its DEFAULT partition (migration 0026)."""
    run(conn, _PARENT_DDL)
    for suffix, definition in INDEXES:
        run(conn, f"CREATE INDEX ix_{PARENT}_{suffix} ON {PARENT} {definition}")
    run(conn, f"CREATE TABLE {DEFAULT} (LIKE {PARENT} INCLUDING DEFAULTS)")
    for statement in index_ddl(DEFAULT):
        run(conn, statement)
    run(conn, f"ALTER TABLE {PARENT} ATTACH PARTITION {DEFAULT} DEFAULT")


def partition_bounds(conn: Connection) -> list[Bounds]:
    """The attached partitions, oldest first, the DEFAULT one last."""
    run(conn, "SET LOCAL TIME ZONE 'UTC'")  # pg_get_expr renders bounds in it
    rows = run(conn,
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        f"JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '{PARENT}'::regclass").fetchall()
    out = []
    for name, bound in rows:
        found = _BOUND.search(bound)
        if found is None:
            out.append(Bounds(name, None, None))
            continue
        lower, upper = (datetime.fromisoformat(v) for v in found.groups())
        out.append(Bounds(name, lower.astimezone(UTC), upper.astimezone(UTC)))
    return sorted(out, key=lambda b: (b.lower is None, b.lower or datetime.min.replace(tzinfo=UTC)))


def attach_month(conn: Connection, month: datetime, upper: datetime | None = None) -> str:
    """Create and attach the partition of [month, upper) (one month by default), first moving
    into it the DEFAULT partition's events of that range (ATTACH refuses while any lie there)."""
    upper = upper or next_month(month)
    name = partition_name(month)
    create, index = loaded_ddl(name, month, upper)
    for statement in create + index:
        run(conn, statement)
    moved = run(conn,
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE at >= '{literal(month)}' AND at < '{literal(upper)}' "
        f"RETURNING {', '.join(COLUMNS)}) INSERT INTO {name} ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
        "FROM moved").rowcount
    attach_loaded(conn, name, month, upper)
    if moved:
        logger.warning("log partition %s created: %d events moved from the default partition", name, moved)
    return name


def loaded_ddl(name: str, lower: datetime, upper: datetime) -> tuple[list[str], list[str]]:
    """For a partition loaded apart before it is attached (a restored month, the bench's fill):
    the statements that create it, and those that index it and add a CHECK matching its bounds
    once loaded, so that ATTACH adopts the indexes and skips its scan (milliseconds of locks)."""
    create = [f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"]
    check = f"ALTER TABLE {name} ADD CONSTRAINT {name}_at CHECK (at >= '{literal(lower)}' AND at < '{literal(upper)}')"
    return create, [*index_ddl(name), check]


def attach_loaded(conn: Connection, name: str, lower: datetime, upper: datetime) -> None:
    run(conn, f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{literal(lower)}') TO ('{literal(upper)}')")
    run(conn, f"ALTER TABLE {name} DROP CONSTRAINT {name}_at")


def default_months(conn: Connection) -> dict[datetime, int]:
    """The months the DEFAULT partition's events are dated in, with their counts."""
    rows = conn.execute(text(f"SELECT date_trunc('month', at AT TIME ZONE 'UTC'), count(*) FROM {DEFAULT} "
                             "GROUP BY 1 ORDER BY 1")).all()
    return {month.replace(tzinfo=UTC): int(n) for month, n in rows}


def ensure_months(conn: Connection, months: list[datetime], adopt_limit: int) -> tuple[list[str], dict[datetime, int]]:
    """Partitions for ``months`` and, when the DEFAULT partition holds at most ``adopt_limit``
    events, for the months of those too (moved), in this transaction; skipped (nothing done)
    when another process holds the partitions' lock. Returns what was created and what the
    DEFAULT partition still holds."""
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PARTITIONS_LOCK}).scalar_one():
        return [], default_months(conn)
    # Never hold the appenders up for long behind a lock queue: give up, try at the next beat.
    run(conn, "SET LOCAL lock_timeout = '2s'")
    waiting = default_months(conn)
    wanted = set(months)
    if sum(waiting.values()) <= adopt_limit:
        wanted |= set(waiting)
    covered = [(b.lower, b.upper) for b in partition_bounds(conn) if b.lower is not None and b.upper is not None]
    created = []
    for month in sorted(wanted):
        end = next_month(month)
        if any(lo < end and month < hi for lo, hi in covered):
            continue
        created.append(attach_month(conn, month))
        covered.append((month, end))
    return created, default_months(conn) if created else waiting
