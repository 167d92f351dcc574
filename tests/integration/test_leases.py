"""The checkpoint signer's lease (store/leases.py): exactly one holder per database, taken over
when the holder lets go -- on both databases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import database_url
from tierspayant.store.leases import signer_lease


def test_one_holder_at_a_time_and_a_successor(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
    url = database_url(request, backend, tmp_path)
    engines = [create_engine(url) for _ in range(3)]  # three processes' views of one database
    try:
        leases = [signer_lease(engine, tmp_path) for engine in engines]
        held = [lease.hold() for lease in leases]
        assert held == [True, False, False]
        assert leases[0].hold()  # the holder keeps it, asked again
        assert [lease.hold() for lease in leases[1:]] == [False, False]
        leases[0].release()
        held = [lease.hold() for lease in leases[1:]]
        assert sorted(held) == [False, True]  # exactly one successor
        winner, other = (leases[1], leases[2]) if held[0] else (leases[2], leases[1])
        assert not leases[0].hold()  # released for good (a process shutting down)
        assert not other.hold()
        winner.release()
        assert other.hold()
    finally:
        for lease in leases:
            lease.release()
        for engine in engines:
            engine.dispose()


def test_another_database_has_its_own_signer(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = (create_engine(database_url(request, backend, tmp_path / name)) for name in ("a", "b"))
    try:
        one, two = signer_lease(first, tmp_path / "a"), signer_lease(second, tmp_path / "b")
        assert one.hold() and two.hold()
    finally:
        one.release()
        two.release()
        first.dispose()
        second.dispose()


def test_a_holder_cut_off_from_the_database_loses_the_role(request: pytest.FixtureRequest, backend: str,
                                                            tmp_path: Path) -> None:
    """PostgreSQL ends the holder's session (an administrator, a network cut, the server's
    idle_session_timeout for a stuck process): the holder learns it at its next ``hold`` and
    another takes over."""
    if backend != "postgresql":
        pytest.skip("a SQLite lease is a flock: it ends only with its process")
    url = database_url(request, backend, tmp_path)
    engines = [create_engine(url) for _ in range(3)]
    leases = [signer_lease(engine, tmp_path) for engine in engines]
    try:
        assert [lease.hold() for lease in leases[:2]] == [True, False]
        with engines[2].connect() as conn:
            ended = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tierspayant-lease' "
                "AND datname = current_database() AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted)")).scalars().all()
        assert ended == [True]
        deadline = time.monotonic() + 10
        while not leases[1].hold():
            assert time.monotonic() < deadline, "nobody took the role over"
            time.sleep(0.05)
        assert not leases[0].hold()  # its session is gone: it knows it is no longer the signer
    finally:
        for lease in leases:
            lease.release()
        for engine in engines:
            engine.dispose()
