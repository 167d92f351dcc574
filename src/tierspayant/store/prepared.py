"""Prepared hot-path queries: compiled once per dialect, run on the driver's cursor.

SQLAlchemy's execution layer (events, cache keys, result objects) cost more than the indexed
lookups themselves on the rights check's path (profiled in bench/). These few statements skip
it: same SQL, same column types (result processors applied), none of the per-call machinery.
Parameters must be plain ``str`` / ``int`` (no bind processing is applied)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, insert


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # positional drivers (SQLite's qmark): parameter order
    processors: tuple[Callable[[Any], Any] | None, ...]


class Prepared:
    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        compiled = self.statement.compile(dialect=dialect)
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        return _Compiled(str(compiled), order, processors)

    def all(self, conn: Connection, params: Mapping[str, str | int]) -> list[tuple[Any, ...]]:
        entry = self._compiled.get(conn.dialect.name)
        if entry is None:
            entry = self._compiled[conn.dialect.name] = self._compile(conn)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.execute(entry.sql, [params[name] for name in entry.order] if entry.order else dict(params))
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [
            tuple(value if process is None else process(value) for process, value in zip(entry.processors, row, strict=True))
            for row in rows
        ]


class PreparedInsert:
    """A multi-row INSERT of every column of ``table``, compiled once per dialect, run with the
    driver's ``executemany`` (column types' bind processors applied)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any]]]] = {}

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        dialect = conn.dialect
        entry = self._compiled.get(dialect.name)
        if entry is None:
            names = [c.name for c in self.table.c]
            compiled = insert(self.table).values({n: bindparam(n) for n in names}).compile(dialect=dialect)
            processors: dict[str, Callable[[Any], Any]] = {}
            for column in self.table.c:
                process = column.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[column.name] = process
            order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
            entry = self._compiled[dialect.name] = (str(compiled), order, processors)
        sql, order, bind = entry
        prepared: list[Any] = []
        for row in rows:
            values = {k: (bind[k](v) if k in bind else v) for k, v in row.items()}
            prepared.append([values[name] for name in order] if order else values)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.executemany(sql, prepared)
        finally:
            cursor.close()
