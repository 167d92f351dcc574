"""Data keys in SQL (``services.ports.oversight.KeyStore``): versions per owner, re-encryption
of sealed rows in batches, retirement, crypto-shredding (``store/protection.py`` does the
cryptography), and shred requests awaiting a second officer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import and_, insert, select, update

from tierspayant.services.records import ShredRequest
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


class SqlKeyStore(SqlPort):
    def versions(self, owner: int) -> list[int]:
        rows = self.conn.execute(select(t.data_keys.c.version).where(t.data_keys.c.insurer_id == owner)
                                 .order_by(t.data_keys.c.version))
        return [int(v) for v in rows.scalars()]

    def rotate(self, owner: int) -> int:
        return self.protection.rotate(self.conn, owner)

    def sealed_people(self, tables: Sequence[str], owners: Sequence[int] | None = None,
                      ) -> Iterator[tuple[int, int, str, int, int]]:
        yield from self.protection.sealed_people(self.conn, tables, owners)

    def sealed_rows(self, owner: int) -> dict[str, int]:
        return self.protection.count_by_table(self.conn, owner)

    def reencrypt(self, owner: int, table: str, after_id: int, limit: int) -> tuple[int, int]:
        return self.protection.reencrypt(self.conn, owner, table, after_id, limit)

    def retire_old(self, owner: int) -> list[int]:
        return self.protection.retire_old(self.conn, owner)

    def shred(self, owner: int) -> int:
        return self.protection.shred(self.conn, owner)

    def add_shred_request(self, request: ShredRequest) -> int:
        key = self.conn.execute(insert(t.shred_requests).values(
            owner=request.owner, requested_by=request.requested_by, reason=request.reason,
            requested_at=request.requested_at, approved_by=None, approved_at=None)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def shred_request(self, request_id: int) -> ShredRequest | None:
        row = self.conn.execute(select(t.shred_requests).where(t.shred_requests.c.id == request_id)).first()
        return ShredRequest(**row._mapping) if row else None

    def approve_shred_request(self, request_id: int, by: int, at: datetime) -> bool:
        c = t.shred_requests.c
        result = self.conn.execute(update(t.shred_requests).where(and_(c.id == request_id, c.approved_by.is_(None)))
                                   .values(approved_by=by, approved_at=at))
        return result.rowcount == 1
