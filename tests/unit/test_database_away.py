"""A database that is away answers 503 with Retry-After, never 500 (api/problems.py; issue 16,
point 6): the errors SQLite and psycopg raise then, recognised; a bug's error is not."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from tierspayant.api.problems import database_away


class _PgError(Exception):
    def __init__(self, text: str, sqlstate: str | None) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("orig", [
    sqlite3.OperationalError("database or disk is full"),
    sqlite3.OperationalError("attempt to write a readonly database"),
    sqlite3.OperationalError("database is locked"),
    _PgError("terminating connection due to administrator command", "57P01"),
    _PgError("could not extend file: No space left on device", "53100"),
    _PgError("cannot execute INSERT in a read-only transaction", "25006"),
    _PgError("connection failed: connection refused", None),
])
def test_what_a_database_away_raises_is_recognised(orig: Exception) -> None:
    assert database_away(OperationalError("statement", {}, orig))


def test_a_bug_is_not_mistaken_for_an_outage() -> None:
    assert not database_away(OperationalError("statement", {}, sqlite3.OperationalError("no such table: x")))
    assert not database_away(ProgrammingError("statement", {}, _PgError("syntax error", "42601")))
    assert not database_away(ValueError("no"))
