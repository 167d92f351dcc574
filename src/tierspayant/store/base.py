"""What every SQL port shares: the transaction's connection, the field protection, and the
writes that keep a row's sealed fields bound to its id (store/protection.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from tierspayant.security.fields import InvalidCiphertext
from tierspayant.services.ports import Conflict
from tierspayant.store.protection import SEALED, Protection


def dialect_insert(conn: Connection) -> Any:
    """The dialect's INSERT construct (it has ``on_conflict_do_update``/``_do_nothing``)."""
    return sqlite_insert if conn.dialect.name == "sqlite" else pg_insert


class SqlPort:
    """One capability's SQL over the unit of work's connection (store/unit_of_work.py)."""

    def __init__(self, conn: Connection, protection: Protection) -> None:
        self.conn = conn
        self.protection = protection

    def _insert(self, table: Any, values: Mapping[str, Any], conflict_field: str) -> int:
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(insert(table).values(**values))
        except IntegrityError:
            raise Conflict(conflict_field, "already exists") from None
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _insert_sealed(self, table: Any, values: Mapping[str, Any], conflict_field: str) -> int:
        """Insert a row with protected fields (store/protection.py): the row id is part of each
        field's associated data, so insert with empty envelopes, then seal with the id."""
        spec = SEALED[table.name]
        placeholder = {k: v for k, v in values.items() if k not in spec.fields}
        placeholder.update({column: "" for column, _ in spec.fields.values()})
        placeholder.update({c: "" for c in ("nir_bidx", "member_bidx") if table.name == "beneficiaries"})
        row_id = self._insert(table, placeholder, conflict_field)
        self._reseal(table, {**values, "id": row_id})
        return row_id

    def _reseal(self, table: Any, values: Mapping[str, Any]) -> None:
        """Write protected fields (and any others given) of an existing row, sealed."""
        sealed = self.protection.seal(self.conn, table.name, values)
        self.conn.execute(update(table).where(table.c.id == values["id"])
                          .values({k: v for k, v in sealed.items() if k != "id"}))

    def _open(self, table: Any, row: Any) -> dict[str, Any] | None:
        """The plain row, or None when its owner's keys were shredded: nothing to show."""
        if row is None:
            return None
        try:
            return self.protection.open(self.conn, table.name, row)
        except InvalidCiphertext:
            return None
