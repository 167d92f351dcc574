"""``services.ports.BulkLoader`` over SQLAlchemy Core executemany (insertmanyvalues), and the
chunked, resumable seed: COPY on PostgreSQL (store/bulk_copy.py), executemany on SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tierspayant.services.ports.outside import SeedState
from tierspayant.store import bulk_copy as bc
from tierspayant.store.protection import SEALED, Protection
from tierspayant.store.tables import metadata

Rows = Sequence[Mapping[str, Any]]


class SqlBulkLoader:
    def __init__(self, engine: Engine, protection: Protection, binary_copy: bool = True) -> None:
        self.engine = engine
        self.protection = protection
        #: COPY's binary format (bench/scale_seed.py --copy-format measures text against it).
        self.binary_copy = binary_copy

    def insert(self, table: str, rows: Rows) -> None:
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

    # -- the chunked seed ------------------------------------------------------------------------
    def _reader(self) -> Any:
        """A read-only connection: on SQLite it does not take the write lock, on PostgreSQL not
        the writers' advisory lock (store/database.py)."""
        return self.engine.connect().execution_options(tiers_readonly=True)

    def _probe(self) -> str:
        return self.protection.index.of("nir", 0, "tierspayant seed probe")

    def seed_state(self) -> SeedState | None:
        with self._reader() as conn:
            run = conn.execute(select(bc.seed_runs).where(bc.seed_runs.c.id == 1)).first()
            if run is None:
                return None
            done = frozenset(int(c) for c in conn.execute(select(bc.seed_chunks.c.chunk)).scalars())
        return SeedState(run.fingerprint, run.spec, run.chunks, done, run.setup_done_at is not None,
                         run.finished_at is not None, run.key_probe == self._probe())

    def start_seed(self, fingerprint: str, spec: str, chunks: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(bc.seed_runs).values(id=1, fingerprint=fingerprint, spec=spec, chunks=chunks,
                                                     key_probe=self._probe(), deferred=bc.encode_deferred([]),
                                                     started_at=datetime.now(UTC)))

    def prepare_chunks(self, key_owners: Sequence[int], set_aside: bool = True) -> None:
        with self.engine.begin() as conn:
            for owner in key_owners:
                self.protection.ensure_key(conn, owner)
            deferred = bc.set_aside(conn) if set_aside and self.engine.dialect.name == "postgresql" else []
            conn.execute(update(bc.seed_runs).where(bc.seed_runs.c.id == 1).values(
                deferred=bc.encode_deferred(deferred), setup_done_at=datetime.now(UTC)))

    def load_chunk(self, chunk: int, tables: Mapping[str, Rows]) -> bool:
        # Sealed before the write transaction: on SQLite the write lock is then held for the
        # inserts alone, so parallel loaders encrypt while another one writes.
        with self._reader() as conn:
            sealed = {name: [self.protection.seal(conn, name, row) for row in rows] if name in SEALED else rows
                      for name, rows in tables.items()}
        if self.engine.dialect.name == "postgresql":
            return bc.copy_chunk(self.engine, chunk, sealed, binary=self.binary_copy)
        with self.engine.begin() as conn:
            claimed = conn.execute(sqlite_insert(bc.seed_chunks).on_conflict_do_nothing().values(
                chunk=chunk, beneficiaries=len(tables.get("beneficiaries", ())), done_at=datetime.now(UTC)))
            if claimed.rowcount == 0:
                return False
            for name, rows in sealed.items():
                if rows:
                    conn.execute(insert(metadata.tables[name]), list(rows))
        return True

    def finish_seed(self) -> None:
        with self._reader() as conn:
            deferred = bc.decode_deferred(conn.execute(select(bc.seed_runs.c.deferred)
                                                       .where(bc.seed_runs.c.id == 1)).scalar_one())
        # Indexes before foreign keys (set_aside lists them so); each one's removal from the
        # list is committed with it.
        while deferred:
            with self.engine.begin() as conn:
                bc.restore(conn, deferred[0])
                conn.execute(update(bc.seed_runs).where(bc.seed_runs.c.id == 1).values(
                    deferred=bc.encode_deferred(deferred[1:])))
            deferred = deferred[1:]
        self.reset_sequences()
        bc.analyze(self.engine)
        with self.engine.begin() as conn:
            conn.execute(update(bc.seed_runs).where(bc.seed_runs.c.id == 1).values(finished_at=datetime.now(UTC)))

    def database_size(self) -> int:
        return bc.database_size(self.engine)
