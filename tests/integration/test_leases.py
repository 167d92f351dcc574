"""The checkpoint signer's lease (store/leases.py): exactly one holder per database, taken over
when the holder lets go -- on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

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
        winner = leases[1 + held.index(True)]
        assert not leases[0].hold()  # the old holder does not take it back
        winner.release()
        assert leases[0].hold()
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
