"""Group commit: concurrent writes share a transaction; one bad write fails only its caller."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.conftest import database_url
from tierspayant.security.fields import BlindIndex, FileKek, KeyRing
from tierspayant.services.ports import Transaction
from tierspayant.store import tables as t
from tierspayant.store.database import make_engine
from tierspayant.store.migrate import upgrade
from tierspayant.store.protection import Protection
from tierspayant.store.unit_of_work import SqlUnitOfWork
from tierspayant.store.write_queue import SqlWriteQueue

PROTECTION = Protection(KeyRing(FileKek(bytes(32))), BlindIndex({"nir": bytes(32), "member": bytes(32)}))


def add_insurer(number: int) -> Any:
    def work(repos: Transaction) -> int:
        return repos.reference.add_insurer(f"{number:09d}", f"Assureur {number}", 30, 180)
    return work


def test_concurrent_writes_share_transactions_and_failures_stay_local(request: pytest.FixtureRequest, backend: str,
                                                                      tmp_path: Path) -> None:
    engine = make_engine(database_url(request, backend, tmp_path))
    upgrade(engine)
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    queue = SqlWriteQueue(SqlUnitOfWork(engine, PROTECTION))

    async def scenario() -> list[Any]:
        works = [add_insurer(n) for n in range(1, 41)]
        works.append(add_insurer(5))  # duplicate AMC number: this one must fail alone
        return await asyncio.gather(*(queue.run(w) for w in works), return_exceptions=True)

    before = len(commits)
    results = asyncio.run(scenario())
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert all(isinstance(r, int) for r in results[:40])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.insurers)).scalar() == 40
    # 41 writes: one failed batch, then 41 retried alone -- never a lost or doubled write.
    assert len(commits) - before <= 42

    async def clean_batch() -> None:
        await asyncio.gather(*(queue.run(add_insurer(n)) for n in range(100, 150)))

    before = len(commits)
    asyncio.run(clean_batch())
    assert len(commits) - before == 1  # fifty writes, one transaction


def test_a_write_is_durable_before_run_returns(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
    url = database_url(request, backend, tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    queue = SqlWriteQueue(SqlUnitOfWork(engine, PROTECTION))
    insurer_id = asyncio.run(queue.run(add_insurer(7)))
    other = make_engine(url)  # another connection sees it at once
    with other.connect() as conn:
        assert conn.execute(select(t.insurers.c.id).where(t.insurers.c.amc_number == "000000007")).scalar() == insurer_id
    with pytest.raises(RuntimeError):
        asyncio.run(queue.run(lambda repos: (_ for _ in ()).throw(RuntimeError("boom"))))
