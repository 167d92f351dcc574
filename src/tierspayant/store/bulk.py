"""``services.ports.BulkLoader`` over SQLAlchemy Core executemany (insertmanyvalues)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from tierspayant.store.protection import SEALED, Protection
from tierspayant.store.tables import metadata


class SqlBulkLoader:
    def __init__(self, engine: Engine, protection: Protection) -> None:
        self.engine = engine
        self.protection = protection

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        with self.engine.begin() as conn:
            if table in SEALED:  # personal and health fields are encrypted at rest
                rows = [self.protection.seal(conn, table, row) for row in rows]
            conn.execute(insert(metadata.tables[table]), list(rows))

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(metadata.tables[table])).scalar() or 0)

    def reset_sequences(self) -> None:
        if self.engine.dialect.name != "postgresql":
            return  # SQLite's INTEGER PRIMARY KEY continues after the largest id by itself
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                if "id" in table.c and table.c.id.primary_key:
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                    ))
