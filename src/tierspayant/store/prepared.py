"""Prepared hot-path queries: compiled once per dialect, run on the driver's cursor.

SQLAlchemy's execution layer (events, cache keys, result objects) cost more than the indexed
lookups themselves on the rights check's path (profiled in bench/). These few statements skip
it: same SQL, same column types (result processors applied), none of the per-call machinery.
Parameters are plain ``str`` / ``int``, except those named in ``bind_types``, which go through
their type's bind processing (a datetime, for instance).

On PostgreSQL the statements are compiled with PostgreSQL's own ``$n`` placeholders and run on
psycopg's ``RawCursor``, which sends them as they are: psycopg's default cursor parses every
statement's ``%(name)s`` placeholders on each call and caches that parse only for statements
under 4 KB (psycopg discussion #628) -- detection's snapshot is longer, and its parse was 13 % of
a worker's time on the rights check (py-spy, bench/README.md, issue 19)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import RawCursor
from sqlalchemy import ClauseElement, Connection, Dialect, Select, Table, bindparam, insert
from sqlalchemy.types import TypeEngine


def _native_placeholders(dialect: Dialect) -> Dialect:
    """The same PostgreSQL dialect compiling ``$1, $2 ...`` (a repeated name reuses its number)."""
    native = copy.copy(dialect)
    native.paramstyle = "numeric_dollar"
    native.positional = True
    # Its own preparer: the pyformat dialect's doubles every "%" (for psycopg's parse), which
    # RawCursor would send as it is ("size %% $1").
    native.identifier_preparer = native.preparer(native)
    return native


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Positional drivers (SQLite's qmark): the argument list with the statement's own literals
    #: (``attempts + 1``) in place, and (position, name, bind processor) of each caller's
    #: parameter -- one pass per call, no merged dicts (measured: bench/README.md, issue 13).
    template: tuple[Any, ...] | None
    slots: tuple[tuple[int, str, Callable[[Any], Any] | None], ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    binds: Mapping[str, Callable[[Any], Any]]
    constants: Mapping[str, Any]  # named drivers: literals the statement binds itself
    #: PostgreSQL: run on psycopg's RawCursor (the SQL already has ``$n`` placeholders).
    raw: bool = False

    def arguments(self, params: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        if self.template is not None or self.raw:
            args = list(self.template or ())
            for position, name, process in self.slots:
                value = params[name]
                args[position] = value if process is None else process(value)
            return args
        binds = self.binds
        out = {k: (binds[k](v) if k in binds else v) for k, v in params.items()} if binds else dict(params)
        return {**self.constants, **out} if self.constants else out


class Prepared:
    def __init__(self, statement: Select[Any] | ClauseElement, bind_types: Mapping[str, TypeEngine[Any]] | None = None,
                 ) -> None:
        self.statement = statement
        self.bind_types = dict(bind_types or {})
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        raw = dialect.name == "postgresql" and dialect.driver == "psycopg"
        compiled: Any = self.statement.compile(dialect=_native_placeholders(dialect) if raw else dialect)
        processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                           for column in self._columns())
        binds = {name: process for name, type_ in self.bind_types.items()
                 if (process := type_.dialect_impl(dialect).bind_processor(dialect)) is not None}
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        template: tuple[Any, ...] | None = None
        slots: list[tuple[int, str, Callable[[Any], Any] | None]] = []
        if compiled.positional and compiled.positiontup:
            order = tuple(compiled.positiontup)
            template = tuple(constants.get(name) for name in order)
            slots = [(i, name, binds.get(name)) for i, name in enumerate(order) if name not in constants]
        return _Compiled(str(compiled), template, tuple(slots), processors, binds, constants, raw)

    def _columns(self) -> list[Any]:
        """What the statement returns: a SELECT's columns, or an INSERT ... RETURNING's."""
        if isinstance(self.statement, Select):
            return list(self.statement.selected_columns)
        return list(getattr(self.statement, "exported_columns", ()))

    def _run(self, conn: Connection, params: Mapping[str, Any], fetch: bool) -> list[Any]:
        key = (conn.dialect.name, conn.dialect.driver)
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compiled[key] = self._compile(conn)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = RawCursor(driver) if entry.raw else driver.cursor()
        try:
            cursor.execute(entry.sql, entry.arguments(params))
            return cursor.fetchall() if fetch else []
        finally:
            cursor.close()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows (an upsert)."""
        self._run(conn, params, fetch=False)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.processed(conn, self._run(conn, params, fetch=True))

    def as_fetched(self, conn: Connection, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of Python values as the driver would return it for this SELECT (each column's
        bind processing): ``processed`` then turns it back, at the cost a fetched row has."""
        out = []
        for column, value in zip(self._columns(), row, strict=True):
            process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            out.append(value if process is None or value is None else process(value))
        return tuple(out)

    def processed(self, conn: Connection, rows: list[Any]) -> list[tuple[Any, ...]]:
        """Driver rows with the columns' result processing applied."""
        key = (conn.dialect.name, conn.dialect.driver)
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compiled[key] = self._compile(conn)
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
