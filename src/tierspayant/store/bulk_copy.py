"""Seeding at scale, the store's side (issue 19, point 1): the checkpoint tables (migration 0025),
PostgreSQL's COPY for a chunk's rows, and the chunk tables' secondary indexes and foreign keys
set aside while they load and made again at the end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from tierspayant.store.tables import metadata
from tierspayant.store.types import UtcDateTime

#: The checkpoint's own metadata: not ``tables.metadata``, whose tables get their sequences
#: reset and their rows counted by other tools.
seed_metadata = MetaData()

seed_runs = Table(
    "seed_runs", seed_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # one row: id 1
    Column("fingerprint", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("key_probe", String(64), nullable=False),
    Column("deferred", Text, nullable=False),  # JSON: what prepare set aside, to make again
    Column("started_at", UtcDateTime, nullable=False),
    Column("setup_done_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
)

seed_chunks = Table(
    "seed_chunks", seed_metadata,
    Column("chunk", Integer, primary_key=True, autoincrement=False),
    Column("beneficiaries", Integer, nullable=False),
    Column("done_at", UtcDateTime, nullable=False),
)

#: The tables a chunk writes, in the order their foreign keys need.
CHUNK_TABLES = ("beneficiaries", "rights_periods", "optical_purchases")

_CLAIM = "INSERT INTO seed_chunks (chunk, beneficiaries, done_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


def copy_chunk(engine: Engine, chunk: int, tables: Mapping[str, Sequence[Mapping[str, Any]]],
               binary: bool = True) -> bool:
    """One chunk in one transaction on the driver's connection: the chunk claimed first (a
    concurrent claim of the same chunk waits on its primary key for the first's outcome), then
    every table by COPY. Without the writers' advisory lock (store/database.py): chunks write
    disjoint rows, so parallel loaders cannot deadlock, and the lock would make them one."""
    from psycopg import sql

    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cursor:
            cursor.execute(_CLAIM, (chunk, len(tables.get("beneficiaries", ())), datetime.now(UTC)))
            if cursor.rowcount == 0:
                driver.rollback()
                return False
            for name, rows in tables.items():
                if not rows:
                    continue
                table = metadata.tables[name]
                columns = list(rows[0])
                types = _binary_types(table, columns) if binary else None
                statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                    sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(" (FORMAT BINARY)" if types else ""))
                with cursor.copy(statement) as copy:
                    if types:
                        copy.set_types(types)
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
        driver.commit()
        return True
    except BaseException:
        raw.driver_connection.rollback()  # type: ignore[union-attr]
        raise
    finally:
        raw.close()  # back to the pool


def _binary_types(table: Table, columns: Sequence[str]) -> list[str] | None:
    """PostgreSQL's type names of the columns for a binary COPY (psycopg dumps each value as
    that type), or None when a column's type is not one known here (then COPY goes as text)."""
    out = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, BigInteger):
            out.append("int8")
        elif isinstance(kind, SmallInteger):
            out.append("int2")
        elif isinstance(kind, Integer):
            out.append("int4")
        elif isinstance(kind, Boolean):
            out.append("bool")
        elif isinstance(kind, Date):
            out.append("date")
        elif isinstance(kind, String | Text):  # text and varchar share their binary form
            out.append("text")
        else:
            return None
    return out


_SECONDARY_INDEXES = text("""
SELECT c.relname AS table_name, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(:tables)
  AND NOT i.indisprimary AND NOT i.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY 1, 2""")

_FOREIGN_KEYS = text("""
SELECT c.relname AS table_name, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND k.contype = 'f' AND c.relname = ANY(:tables)
ORDER BY 1, 2""")


def set_aside(conn: Connection) -> list[dict[str, str]]:
    """PostgreSQL: drop the chunk tables' secondary (non-unique) indexes and foreign keys, and
    return their definitions. Measured (bench/SCALE-RESULTS.md): a b-tree on a random blind
    index, grown row by row past shared_buffers, and a foreign-key trigger per row cost more
    than building the index once sorted and checking each key with one join at the end. The
    primary keys stay: they refuse a duplicate row while the load runs."""
    tables = list(CHUNK_TABLES)
    items = [{"kind": "index", **dict(row._mapping)} for row in conn.execute(_SECONDARY_INDEXES, {"tables": tables})]
    items += [{"kind": "foreign_key", **dict(row._mapping)} for row in conn.execute(_FOREIGN_KEYS, {"tables": tables})]
    quote = conn.dialect.identifier_preparer.quote
    for item in items:
        if item["kind"] == "foreign_key":
            conn.exec_driver_sql(f"ALTER TABLE {quote(item['table_name'])} DROP CONSTRAINT {quote(item['name'])}")
        else:
            conn.exec_driver_sql(f"DROP INDEX {quote(item['name'])}")
    return items


def restore(conn: Connection, item: Mapping[str, str]) -> None:
    """Make one set-aside index or foreign key again (nothing when it exists already)."""
    quote = conn.dialect.identifier_preparer.quote
    # Room to sort a 20-million-row index in memory rather than in temporary files.
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
    if item["kind"] == "index":
        definition = item["definition"]
        prefix = "CREATE INDEX "
        if not definition.startswith(prefix):
            raise RuntimeError(f"unexpected index definition for {item['name']}")
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS " + definition[len(prefix):])
        return
    exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = :name"), {"name": item["name"]}).first()
    if exists is None:
        conn.exec_driver_sql(f"ALTER TABLE {quote(item['table_name'])} ADD CONSTRAINT {quote(item['name'])} "
                             f"{item['definition']}")


def encode_deferred(items: Sequence[Mapping[str, str]]) -> str:
    return json.dumps(list(items), separators=(",", ":"))


def decode_deferred(value: str) -> list[dict[str, str]]:
    items: list[dict[str, str]] = json.loads(value)
    return items


def analyze(engine: Engine) -> None:
    """PostgreSQL: the planner's statistics of the freshly loaded tables (autovacuum's would
    come later), outside any transaction."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ANALYZE {', '.join(CHUNK_TABLES)}")


def database_size(engine: Engine) -> int:
    with engine.connect().execution_options(tiers_readonly=True) as conn:
        if engine.dialect.name == "postgresql":
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        return pages * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
