"""The access log over months (issue 19, point 2): on PostgreSQL one partition a month created
ahead and a DEFAULT one that never fails an access; migration 0026 on an empty and on a
populated log (copied, or attached as it is); old months archived to files and restored with
the signed log still proving what remains; the first checkpoint of a bulk-loaded log caught up
in committed steps that a restart resumes. On SQLite the same calls keep one table."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, func, select, text

from tests.conftest import database_url
from tests.fakes import FakeClock
from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.audit.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import Principal, Role
from tierspayant.services import audit as audit_module
from tierspayant.services.audit import ProofArchived
from tierspayant.services.ports.log_storage import ArchiveRefused
from tierspayant.store import tables as t
from tierspayant.store.database import make_engine
from tierspayant.store.migrate import alembic_config, upgrade
from tierspayant.store.types import UtcDateTime

OFFICER = Principal(0, 0, Role.SECURITY_OFFICER, request_id="test")
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def event(at: datetime, i: int, account: int = 7) -> AccessEvent:
    return AccessEvent(at, Tag.RIGHTS_CHECK, account, 3, account, f"b_{i % 40:024d}", 1, (Category.COVERAGE,),
                       "tiers payant: rights check for care", Outcome.OK, f"{i:032x}", None, None)


def append(platform: Platform, at: datetime, count: int, first: int = 0) -> None:
    with platform.uow() as tx:
        tx.log.append_events([event(at + timedelta(minutes=i), first + i) for i in range(count)])


@pytest.fixture()
def platform(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Callable[..., Platform]]:
    made: list[Platform] = []

    def make(at: datetime = JAN, url: str | None = None) -> Platform:
        made.append(build(Settings(database_url=url or database_url(request, backend, tmp_path), var_dir=tmp_path),
                          clock=FakeClock(at)))
        return made[-1]

    yield make
    for p in made:
        p.engine.dispose()


def partition_names(p: Platform) -> list[str]:
    return [x.name for x in p.audit.archiving.partitions()]


def test_months_ahead_and_a_default_partition_that_never_fails(platform: Callable[..., Platform], backend: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    p = platform(JAN)
    append(p, datetime(2020, 7, 10, tzinfo=UTC), 3)  # a month no partition covers
    assert p.audit.size() == 3
    if backend == "sqlite":
        assert p.audit.archiving.ensure_partitions().created == [] and partition_names(p) == []
        return
    # An empty database migrated: the parent, the DEFAULT partition, the migration's months ahead.
    with p.engine.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'audit_events'")).scalar_one()
        assert kind == "p"  # partitioned
        assert conn.execute(text("SELECT count(*) FROM audit_events_default")).scalar_one() == 3
    with caplog.at_level(logging.INFO, logger="tierspayant.log"):
        ensured = p.audit.archiving.ensure_partitions()
    # January (the clock), February, March, and July 2020, where the three events waited: moved.
    assert {"audit_events_y2026m01", "audit_events_y2026m02", "audit_events_y2026m03",
            "audit_events_y2020m07"} <= set(ensured.created)
    assert ensured.default_events == 0
    with p.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events_y2020m07")).scalar_one() == 3
    assert p.audit.archiving.ensure_partitions().created == []  # idempotent
    # Too many waiting: left to the operator (`--adopt`), and warned about (counts only).
    append(p, datetime(2035, 12, 10, tzinfo=UTC), 5, first=3)
    with caplog.at_level(logging.WARNING, logger="tierspayant.log"):
        ensured = p.audit.archiving.ensure_partitions(adopt_limit=2)
    assert ensured.default_events == 5 and "5 access events in the log's default partition" in caplog.text
    assert p.audit.archiving.ensure_partitions(adopt_limit=10).default_events == 0
    p.audit.checkpoint()
    assert p.audit.verify().ok


def _old_schema_log(engine: Any, months: int, per_month: int) -> list[bytes]:
    """A log written at revision 0025 (leaf hashes stored), spread over ``months``."""
    rows, leaves = [], []
    for m in range(months):
        for i in range(per_month):
            seq = m * per_month + i
            e = event(JAN + timedelta(days=31 * m, minutes=i), seq, account=7 + seq % 2)
            entry = e.canonical()
            leaves.append(leaf_hash(entry))
            rows.append({"seq": seq, "at": e.at, "tag": e.tag.value, "account_id": e.account_id,
                         "organisation_id": 3, "beneficiary": e.beneficiary, "insurer_id": 1,
                         "entry": entry.decode(), "leaf_hash": leaf_hash(entry).hex()})
    old = Table("audit_events", MetaData(), Column("seq", BigInteger), Column("at", UtcDateTime),
                Column("tag", String), Column("account_id", Integer), Column("organisation_id", Integer),
                Column("beneficiary", String), Column("insurer_id", Integer), Column("entry", Text),
                Column("leaf_hash", String))
    with engine.begin() as conn:
        conn.execute(old.insert(), rows)
        conn.execute(text("UPDATE audit_head SET size = :n"), {"n": len(rows)})
    return leaves


@pytest.mark.parametrize("path", ["copied", "attached"])
def test_migration_of_a_populated_log(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                                      platform: Callable[..., Platform], monkeypatch: pytest.MonkeyPatch,
                                      path: str) -> None:
    # On SQLite both paths are one: the table stays, its leaf hashes dropped.
    url = database_url(request, backend, tmp_path)
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0025")
    leaves = _old_schema_log(engine, months=3, per_month=150)
    monkeypatch.setenv("TIERS_LOG_MIGRATION_COPY_LIMIT", "1000000" if path == "copied" else "0")
    upgrade(engine)
    engine.dispose()
    p = platform(JAN + timedelta(days=75), url=url)
    assert p.audit.size() == len(leaves)
    signed = p.audit.checkpoint()  # the first checkpoint of the migrated log: every leaf hashed once
    assert signed.root == root_of(leaves)
    assert p.audit.verify().ok
    exposed = p.audit.exposure(OFFICER, account_id=7, start=JAN, end=JAN + timedelta(days=100))
    assert len(exposed) == len(leaves) // 2
    if backend == "postgresql":
        names = partition_names(p)
        if path == "copied":
            assert {"audit_events_y2026m01", "audit_events_y2026m02", "audit_events_y2026m03"} <= set(names)
        else:  # attached as it was: one partition over its months, no copy
            assert "audit_events_legacy" in names
            legacy = next(x for x in p.audit.archiving.partitions() if x.name == "audit_events_legacy")
            assert (legacy.lower, legacy.upper) == (JAN, datetime(2026, 4, 1, tzinfo=UTC))
    # The log goes on: appended after, checkpointed, consistent with the first checkpoint.
    p.audit.archiving.ensure_partitions()
    append(p, JAN + timedelta(days=80), 20, first=len(leaves))
    second = p.audit.checkpoint()
    assert verify_consistency(signed.size, second.size, signed.root, second.root,
                              p.audit.consistency(signed.size, second.size))
    # And back: one plain table with its leaf hashes, as revision 0025 had it.
    command.downgrade(alembic_config(p.engine), "0025")
    with p.engine.connect() as conn:
        stored = [bytes.fromhex(h) for h in conn.execute(text("SELECT leaf_hash FROM audit_events ORDER BY seq")).scalars()]
    assert stored[:len(leaves)] == leaves and len(stored) == second.size


def test_archive_then_restore(platform: Callable[..., Platform], backend: str, tmp_path: Path) -> None:
    p = platform(JAN)
    clock = p.clock
    assert isinstance(clock, FakeClock)
    p.audit.archiving.ensure_partitions()
    sizes = []
    for month in range(3):  # January, February, March: 200 events and two checkpoints each
        clock.at = JAN + timedelta(days=31 * month + 1)
        append(p, clock.at, 100, first=month * 200)
        sizes.append(p.audit.checkpoint().size)
        append(p, clock.at + timedelta(days=5), 100, first=month * 200 + 100)
        sizes.append(p.audit.checkpoint().size)
    if backend == "sqlite":
        with pytest.raises(ArchiveRefused, match="SQLite"):
            p.audit.archiving.archive(OFFICER, datetime(2026, 3, 1, tzinfo=UTC))
        return
    before = datetime(2026, 3, 1, tzinfo=UTC)
    done = p.audit.archiving.archive(OFFICER, before)  # January and February
    assert (done.seq_from, done.seq_to, done.events) == (0, 400, 400)
    assert {"audit_events_y2026m01", "audit_events_y2026m02"}.isdisjoint(partition_names(p))
    for f in done.files:
        assert (tmp_path / "archive" / f.file).stat().st_mode & 0o777 == 0o600
    assert p.audit.archived_until()[0] == 400
    latest = p.audit.checkpoint()  # the archive's own event, signed
    assert latest.size == 601
    # Still provable: the remaining events, consistency from each archived month's last checkpoint.
    for index in (400, 450, 599, 600):
        proof = p.audit.inclusion(index)
        assert verify_inclusion(proof.leaf_hash, index, latest.size, proof.hashes, latest.root)
    for kept in (200, 400):
        with p.uow(readonly=True) as tx:  # the checkpoints stay
            first = tx.checkpoints.checkpoint_at(kept)
        assert first is not None
        assert verify_consistency(kept, latest.size, first.root, latest.root, p.audit.consistency(kept, latest.size))
    # Needs the archive: an archived event's proof, consistency from another checkpoint among them,
    # and any query reaching the archived months (rather than a short answer).
    with pytest.raises(ProofArchived):
        p.audit.inclusion(10)
    with pytest.raises(ProofArchived):
        p.audit.consistency(100, latest.size)
    with pytest.raises(InvalidField, match="archived"):
        p.audit.exposure(OFFICER, account_id=7, start=JAN, end=before + timedelta(days=30))
    report = p.audit.verify()  # from the archived leaves' frontier on
    assert report.ok and report.from_leaf == 400 and report.events == 201 and report.unchecked_checkpoints == 3
    with p.uow(readonly=True) as tx:
        assert [AccessEvent.from_canonical(e.entry).tag for e in tx.log.events(600, 601)] == [Tag.LOG_ARCHIVE]
    # Restored: every event back, verified from leaf 0, the queries whole again.
    restored, problems = p.audit.archiving.restore(OFFICER)
    assert restored.id == done.id and problems == []
    assert p.audit.archived_until() == (0, None)
    assert {"audit_events_y2026m01", "audit_events_y2026m02"} <= set(partition_names(p))
    assert len(p.audit.exposure(OFFICER, account_id=7, start=JAN, end=before)) == 400
    p.audit.checkpoint()
    report = p.audit.verify()
    assert report.ok and report.from_leaf == 0 and report.events == 602
    proof = p.audit.inclusion(10)
    assert verify_inclusion(proof.leaf_hash, 10, proof.size, proof.hashes, proof.checkpoint.root)
    with pytest.raises(ArchiveRefused, match="nothing is archived"):
        p.audit.archiving.restore(OFFICER)


def test_archive_refuses_what_it_cannot_keep_provable(platform: Callable[..., Platform], backend: str) -> None:
    p = platform(JAN)
    p.audit.archiving.ensure_partitions()
    append(p, JAN + timedelta(days=1), 100)
    if backend == "sqlite":
        with pytest.raises(ArchiveRefused):
            p.audit.archiving.plan(datetime(2026, 2, 1, tzinfo=UTC))
        return
    with pytest.raises(ArchiveRefused, match="no partition"):
        p.audit.archiving.plan(datetime(2026, 1, 1, tzinfo=UTC))
    append(p, JAN + timedelta(days=40), 10, first=100)  # February: fewer than 64 events past January
    with pytest.raises(ArchiveRefused, match="64 events past"):
        p.audit.archiving.archive(OFFICER, datetime(2026, 2, 1, tzinfo=UTC))
    assert p.audit.archived_until() == (0, None) and "audit_events_y2026m01" in partition_names(p)


def test_first_checkpoint_of_a_bulk_loaded_log_resumes_after_a_restart(
        platform: Callable[..., Platform], monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform(JAN)
    leaves = []
    rows = []
    for seq in range(1000):  # loaded in bulk: no subtree stored, no checkpoint
        entry = event(JAN + timedelta(seconds=seq), seq).canonical()
        leaves.append(leaf_hash(entry))
        rows.append({"seq": seq, "at": JAN + timedelta(seconds=seq), "tag": Tag.RIGHTS_CHECK.value, "account_id": 7,
                     "organisation_id": 3, "beneficiary": None, "insurer_id": 1, "entry": entry.decode()})
    with p.engine.begin() as conn:
        conn.execute(t.audit_events.insert(), rows)
        conn.execute(t.audit_head.update().values(size=1000))
    monkeypatch.setattr(audit_module, "CATCH_UP", 256)
    steps = []
    real = audit_module.AuditService._extend

    def interrupted(self: Any, tx: Any, old: int, new: int, to_end: bool) -> Any:
        if len(steps) == 2:
            raise RuntimeError("the server stopped")
        steps.append((old, new))
        return real(self, tx, old, new, to_end)

    monkeypatch.setattr(audit_module.AuditService, "_extend", interrupted)
    with pytest.raises(RuntimeError):
        p.audit.checkpoint()
    assert steps == [(0, 256), (256, 512)]
    monkeypatch.setattr(audit_module.AuditService, "_extend", real)
    again = platform(JAN, url=p.settings.database_url)  # a restart
    with again.uow(readonly=True) as tx:
        assert tx.checkpoints.hashed_size() == 512  # the steps committed stay
    read: list[tuple[int, int]] = []
    monkeypatch.setattr(audit_module.AuditService, "_extend",
                        lambda self, tx, old, new, to_end: read.append((old, new)) or real(self, tx, old, new, to_end))
    signed = again.audit.checkpoint()
    assert read == [(512, 768), (768, 1000)]  # resumed, not from leaf 0
    assert signed.root == root_of(leaves)
    append(again, JAN + timedelta(hours=1), 5, first=1000)
    read.clear()
    again.audit.checkpoint()
    assert read == [(1000, 1005)]  # then O(new events)
    with again.engine.connect() as conn:  # only subtrees of 64 leaves and more are stored
        assert conn.execute(select(func.min(t.audit_nodes.c.level))).scalar_one() == 6
    assert again.audit.verify().ok


def test_a_leaf_index_repeated_in_another_month_is_caught(platform: Callable[..., Platform], backend: str) -> None:
    """A unique index of a partitioned table must hold the partition key: seq is unique within
    each month's partition, and across them by construction (audit_head's row lock); a forged
    repeat in another month passes the database on PostgreSQL but never the verifier."""
    p = platform(JAN)
    p.audit.archiving.ensure_partitions()
    append(p, JAN + timedelta(days=1), 10)
    p.audit.checkpoint()
    forged = event(JAN + timedelta(days=40), 99).canonical().decode()
    row = {"seq": 5, "at": JAN + timedelta(days=40), "tag": Tag.RIGHTS_CHECK.value, "entry": forged}
    if backend == "sqlite":
        from sqlalchemy.exc import IntegrityError

        with pytest.raises(IntegrityError), p.engine.begin() as conn:
            conn.execute(t.audit_events.insert(), row)
        return
    with p.engine.begin() as conn:
        conn.execute(t.audit_events.insert(), row)
    report = p.audit.verify()
    assert not report.ok and any("event 6" in problem for problem in report.problems)
