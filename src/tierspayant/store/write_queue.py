"""``services.ports.WriteQueue`` over the SQL unit of work: group commit on the event loop.

Requests that reach their write while a flush is pending join it; the flush runs as soon as the
event loop is free (``call_soon``), in one transaction. On the rights check this replaced one
write transaction per request (BEGIN IMMEDIATE ... COMMIT, and SQLite's write lock contended by
every server process) by one per batch -- measured in bench/RESULTS.md."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tierspayant.services.ports import UnitOfWork

T = TypeVar("T")
S = TypeVar("S")
log = logging.getLogger("tierspayant.store")


class SqlWriteQueue(Generic[S]):
    """``WriteQueue[S]`` over a unit of work yielding ``S`` transactions."""

    def __init__(self, uow: UnitOfWork[S], max_batch: int = 256) -> None:
        self.uow = uow
        self.max_batch = max_batch
        self._pending: list[tuple[Callable[[S], Any], asyncio.Future[Any]]] = []
        self._scheduled = False

    @property
    def depth(self) -> int:
        """Writes waiting for the next flush (a gauge of /metrics)."""
        return len(self._pending)

    async def run(self, work: Callable[[S], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            results = []
            with self.uow() as repos:
                for work, _ in batch:
                    results.append(work(repos))
        except Exception as exc:
            # The exception's class only: its text may quote values from the batch.
            log.warning("group commit of %d writes failed (%s); retrying them one by one", len(batch),
                        type(exc).__name__)
            for work, future in batch:
                try:
                    with self.uow() as repos:
                        result = work(repos)
                except Exception as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.cancelled():
                future.set_result(result)
