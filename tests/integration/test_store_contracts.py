"""The SQL store keeps the ports' contracts on SQLite and PostgreSQL (the same checks run on the
in-memory fakes: tests/unit/test_fake_contracts.py). Among them: a presence nonce is consumed
once, the proof-less quota is exact, and detection's distinct counts are the same on both
databases for the same traffic (the PostgreSQL parity of issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import database_url
from tests.contracts import CHECKS, Uow
from tierspayant.security.fields import BlindIndex, FileKek, KeyRing
from tierspayant.store.database import make_engine
from tierspayant.store.migrate import upgrade
from tierspayant.store.protection import Protection
from tierspayant.store.unit_of_work import SqlUnitOfWork


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_store_keeps_the_contract(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                                      check: Callable[[Uow], None]) -> None:
    engine = make_engine(database_url(request, backend, tmp_path))
    upgrade(engine)
    protection = Protection(KeyRing(FileKek(bytes(32))), BlindIndex({"nir": bytes(32), "member": bytes(32)}))
    try:
        check(SqlUnitOfWork(engine, protection))
    finally:
        engine.dispose()
