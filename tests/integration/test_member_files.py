"""Membership files on SQLite and PostgreSQL (services/members.py): every planted fault reported
with its line and field and nothing else refused, every good line imported, a second import
changes nothing, an import interrupted half-way and run again ends exactly as an uninterrupted
one; every beneficiary created is on the log; a file without the columns writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import World
from tierspayant.domain.errors import InvalidField
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.simulate.member_file import FAULTS, write_member_file
from tierspayant.store import tables as t

LINES = 4_000
AMC = "990000011"


class Interrupted(Exception):
    pass


def population(world: World) -> list[tuple[Any, ...]]:
    """What the import left, opened: every beneficiary of the file's member numbers, with its
    contract and rights (ids aside: they differ from one database to another)."""
    out = []
    with world.platform.uow(readonly=True) as tx:
        numbers = [f"{n:010d}" for n in range(7_000_000, 7_000_000 + LINES + 10)]
        for member, found in tx.memberships.members(1, numbers).items():
            for b, periods in found:
                out.append((member, b.rank, b.nir, b.birth_date, b.last_name, b.first_name, b.contract_id,
                            tuple((p.start, p.end, tuple(sorted(p.categories))) for p in periods)))
    return sorted(out)


def test_a_file_with_every_fault_imported_once_and_resumed(new_world: Callable[..., World], tmp_path: Path) -> None:
    whole, cut = new_world(beneficiaries=50), new_world(beneficiaries=50)
    path = tmp_path / "members.csv"
    planted = write_member_file(path, LINES, bad_share=0.01)
    assert set(planted.values()) == set(FAULTS.values())  # every kind of fault is in the file

    report = whole.platform.members.import_file(OPERATOR_SHELL, AMC, path, batch=500)
    assert {r.line: r.field for r in report.refusals} == planted
    assert report.state.created == LINES - len(planted) and report.state.refused == len(planted)
    with whole.platform.engine.connect() as conn:
        logged = conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.entry.like('%"tag":"reference:beneficiary:create"%'))).scalar_one()
    assert logged == report.state.created
    again = whole.platform.members.import_file(OPERATOR_SHELL, AMC, path, batch=500)
    assert (again.state.created, again.state.updated, again.state.unchanged) == (0, 0, report.state.created)

    def crash(done: int, _: int) -> None:
        if done >= LINES // 2:
            raise Interrupted()  # as if killed between two batches: the next one never starts

    with pytest.raises(Interrupted):
        cut.platform.members.import_file(OPERATOR_SHELL, AMC, path, batch=500, progress=crash)
    resumed = cut.platform.members.import_file(OPERATOR_SHELL, AMC, path, batch=500)
    assert resumed.resumed_after == LINES // 2
    assert {r.line: r.field for r in resumed.refusals} == planted
    assert population(cut) == population(whole)
    assert len(population(whole)) == LINES - len(planted)


def test_a_file_without_the_columns_writes_nothing(new_world: Callable[..., World], tmp_path: Path) -> None:
    world = new_world(beneficiaries=50)
    path = tmp_path / "wrong.csv"
    path.write_text("member,rank\n0000000001,0\n", encoding="utf-8")
    with world.platform.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.beneficiaries)).scalar_one()
    with pytest.raises(InvalidField) as refused:
        world.platform.members.import_file(OPERATOR_SHELL, AMC, path)
    assert refused.value.field == "header"
    with world.platform.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.beneficiaries)).scalar_one() == before
        assert conn.execute(select(func.count()).select_from(t.member_imports)).scalar_one() == 0


def test_a_line_that_is_not_utf8_is_refused_by_number_and_the_rest_goes_on(new_world: Callable[..., World],
                                                                             tmp_path: Path) -> None:
    world = new_world(beneficiaries=20)
    sample = (Path(__file__).parents[2] / "docs" / "member-file-sample.csv").read_bytes().splitlines()
    header, lines = sample[0], sample[1:4]
    broken = lines[1].replace(b"Simon", b"Sim\xe9on")  # Latin-1, not UTF-8
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join([header, lines[0], broken, lines[2]]) + b"\n")  # with a BOM
    report = world.platform.members.import_file(OPERATOR_SHELL, AMC, path)
    assert [(r.line, r.field) for r in report.refusals] == [(3, "line")]
    assert (report.state.created, report.state.refused) == (2, 1)  # the lines around it are in
    latin = tmp_path / "latin.csv"
    latin.write_bytes(header.replace(b"member_number", b"num\xe9ro") + b"\n" + lines[0] + b"\n")
    with pytest.raises(InvalidField) as refused:
        world.platform.members.import_file(OPERATOR_SHELL, AMC, latin)
    assert refused.value.field == "header"
