"""Membership files (docs/DOMAIN.md, "Membership files"; the layout in domain/membership.py): an
insurer's whole population, streamed line by line, checked (keys, dates, contract codes, family
links), applied in batches that are idempotent per beneficiary -- (member number, rank) is the
key: a line creates the beneficiary, updates what differs, or changes nothing -- and resumable:
each batch commits with the import's progress, so an import killed half-way and run again on
the same file continues after its last committed batch and ends as an uninterrupted one would.
The report gives every refused line's number and field, never its values. Every beneficiary
created or changed is on the transparency log; nothing here exports members."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Protocol

from tierspayant.audit.events import Category, Tag
from tierspayant.domain.errors import DomainError, InvalidField
from tierspayant.domain.identifiers import parse_amc_number
from tierspayant.domain.membership import COLUMNS, MemberLine, parse_line
from tierspayant.security.digests import file_digest
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Conflict, HasBeneficiaries, HasLog, HasMemberships, HasReference
from tierspayant.services.ports.members import MemberImport, Refusal
from tierspayant.services.records import Beneficiary, RightsPeriod


class MembersStore(HasMemberships, HasBeneficiaries, HasReference, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""


BATCH = 1_000
Known = dict[tuple[str, int], tuple[Beneficiary, list[RightsPeriod]]]


@dataclass(frozen=True, slots=True)
class ImportReport:
    state: MemberImport
    #: The data line the run started from (0: from the start; more: it resumed).
    resumed_after: int
    total_lines: int
    refusals: list[Refusal]


#: The key a line that cannot be read at all is yielded under (its reason): refused by number.
UNREADABLE = "\x00unreadable"


def _has_surrogate(text: str | None) -> bool:
    return text is not None and any("\udc80" <= ch <= "\udcff" for ch in text)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, values) of each data line; the header is line 1 and must name the columns.
    UTF-8 (a byte-order mark is allowed); a line with bytes that are not UTF-8, or that is not
    CSV, comes back as ``{UNREADABLE: why}`` -- refused by number, the others go on."""
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        try:
            names = reader.fieldnames or []
        except csv.Error:
            raise InvalidField("header", "not a CSV header line") from None
        if any(_has_surrogate(n) for n in names):
            raise InvalidField("header", "not UTF-8")
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise InvalidField("header", f"missing column {missing[0]} (the columns: {', '.join(COLUMNS)})")
        number = 1
        while True:
            before = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                if reader.line_num == before:  # no progress: the rest cannot be read
                    raise InvalidField("file", f"line {number + 1}: the file cannot be read past it") from None
                number += 1
                yield number, {UNREADABLE: "not a CSV line (a field too long, or a quote left open)"}
                continue
            number += 1
            if any(_has_surrogate(v) for v in row.values() if isinstance(v, str)):
                yield number, {UNREADABLE: "not UTF-8"}
                continue
            yield number, row


def _merged(periods: list[RightsPeriod], line: MemberLine, contract_id: int) -> list[RightsPeriod]:
    """The line's period, under the line's contract, replaces the one starting the same day; the
    others stay (with their own contracts: a dated change made by API is not undone)."""
    mine = RightsPeriod(line.rights_start, line.rights_end, line.categories, contract_id)
    return sorted([p for p in periods if p.start != line.rights_start] + [mine], key=lambda p: p.start)


class MembersService(UseCase[MembersStore]):
    def _insurer(self, tx: MembersStore, principal: Principal, amc_number: str) -> int:
        if principal.role not in (Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN):
            raise Forbidden("insurers' operators and the operator")
        insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
        if insurer is None or not principal.may_see_insurer(insurer.id):
            raise NotFound()
        return insurer.id

    def may_import(self, principal: Principal, amc_number: str) -> int:
        """The insurer's id if this caller may import its members (before a file is even
        received); Forbidden or NotFound otherwise."""
        with self.uow(readonly=True) as tx:
            return self._insurer(tx, principal, amc_number)

    def open_import(self, principal: Principal, amc_number: str, path: Path) -> MemberImport:
        """The import of this file for this insurer: the unfinished one (to resume) or a new
        one. Checks the caller and the header first: a wrong one is refused before anything
        is written."""
        self.may_import(principal, amc_number)
        digest = file_digest(path)
        next(_rows(path), None)
        with self.uow() as tx:
            insurer_id = self._insurer(tx, principal, amc_number)
            state = tx.memberships.current_import(insurer_id, digest)
            if state is None or state.finished_at is not None:
                state = tx.memberships.start_import(insurer_id, digest, self.clock.now())
        return state

    def progress_of(self, principal: Principal, amc_number: str, import_id: int) -> tuple[MemberImport, list[Refusal]]:
        """An import's progress and refused lines (another insurer's: NotFound)."""
        with self.uow(readonly=True) as tx:
            insurer_id = self._insurer(tx, principal, amc_number)
            state = tx.memberships.import_by_id(import_id)
            if state is None or state.insurer_id != insurer_id:
                raise NotFound()
            return state, tx.memberships.refusals(state.id)

    def import_file(self, principal: Principal, amc_number: str, path: Path, batch: int = BATCH,
                    progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Import (or resume importing) a membership file; ``progress(lines done, total)``
        after each batch. A file imported in full before is applied again: it changes nothing."""
        if not 1 <= batch <= 10_000:
            raise InvalidField("batch", "between 1 and 10,000 lines")
        with path.open(encoding="utf-8", errors="replace") as handle:
            total = max(0, sum(1 for _ in handle) - 1)
        state = self.open_import(principal, amc_number, path)
        insurer_id, now = state.insurer_id, self.clock.now()
        rows = _rows(path)
        first = next(rows, None)
        resumed, contracts = state.lines_done, dict[str, int | None]()
        source = itertools.chain([first] if first is not None else [], rows)
        seen: dict[tuple[str, int], int] = {}  # (member number, rank) -> the line that gave it
        for _ in range(resumed):  # committed already: skipped, but remembered for duplicates
            skipped = next(source, None)
            if skipped is not None:
                _remember(seen, *skipped, today=now.date())
        while True:
            chunk = list(itertools.islice(source, batch))
            if not chunk:
                break
            with self.uow() as tx:
                state = self._apply(tx, principal, insurer_id, state, chunk, contracts, seen)
            if progress is not None:
                progress(state.lines_done, total)
        with self.uow() as tx:
            finished = replace(state, finished_at=self.clock.now())
            if not tx.memberships.advance_import(finished, [], state.lines_done):
                raise Conflict("file", "this file is being imported by another run")
            state = finished
            refusals = tx.memberships.refusals(state.id)
        return ImportReport(state, resumed, total, refusals)

    def _apply(self, tx: MembersStore, principal: Principal, insurer_id: int, state: MemberImport,
               chunk: list[tuple[int, dict[str, str | None]]], contracts: dict[str, int | None],
               seen: dict[tuple[str, int], int]) -> MemberImport:
        today = self.clock.now().date()
        parsed: list[tuple[int, MemberLine]] = []
        refused: list[Refusal] = []
        for number, row in chunk:
            if UNREADABLE in row:
                refused.append(Refusal(number, "line", str(row[UNREADABLE])))
                continue
            try:
                line = parse_line(row, today)
            except DomainError as exc:
                refused.append(Refusal(number, exc.field, exc.message))
                continue
            first_line = seen.setdefault((line.member_number, line.rank), number)
            if first_line != number:  # one line per beneficiary: a second would undo the first
                refused.append(Refusal(number, "member_number", f"this member number and rank are on line {first_line} "
                                                                "already"))
                continue
            parsed.append((number, line))
        known: Known = {}
        for member, found in tx.memberships.members(insurer_id, sorted({p.member_number for _, p in parsed})).items():
            for beneficiary, periods in found:
                known[(member, beneficiary.rank)] = (beneficiary, periods)
        updated = unchanged = 0
        events: list[tuple[Tag, int, int]] = []
        additions: list[tuple[Beneficiary, list[RightsPeriod], int]] = []
        now = self.clock.now()
        for number, line in parsed:
            if line.contract_code not in contracts:
                contracts[line.contract_code] = tx.reference.contract_id_by_code(insurer_id, line.contract_code)
            contract_id = contracts[line.contract_code]
            if contract_id is None:
                refused.append(Refusal(number, "contract_code", "unknown contract for this insurer"))
                continue
            key = (line.member_number, line.rank)
            existing = known.get(key)
            if existing is None:
                if line.rank > 0 and (line.member_number, 0) not in known:
                    refused.append(Refusal(number, "rank", "a dependant's member (rank 0) comes first in the file "
                                                           "or is registered already"))
                    continue
                new = Beneficiary(0, insurer_id, contract_id, line.member_number, line.rank, line.nir, line.birth_date,
                                  line.last_name, line.first_name)
                additions.append((new, _merged([], line, contract_id), number))
                known[key] = (new, additions[-1][1])  # its family's dependants may follow in this batch
                continue
            beneficiary, periods = existing
            wanted = replace(beneficiary, contract_id=contract_id, nir=line.nir, birth_date=line.birth_date,
                             last_name=line.last_name, first_name=line.first_name)
            merged = _merged(periods, line, contract_id)
            if wanted == beneficiary and merged == periods:
                unchanged += 1
                continue
            if wanted != beneficiary:
                tx.memberships.update_beneficiary(wanted)
            if merged != periods:
                tx.memberships.replace_rights(beneficiary.id, merged)
            known[key] = (wanted, merged)
            updated += 1
            events.append((Tag.BENEFICIARY_UPDATE, beneficiary.id, number))
        ids = tx.memberships.add_members([(b, periods) for b, periods, _ in additions])
        events += [(Tag.BENEFICIARY_CREATE, beneficiary_id, number)
                   for beneficiary_id, (_, _, number) in zip(ids, additions, strict=True)]
        created = len(additions)
        tx.log.append_events([self.recorder.event(
            principal, now, tag, categories=(Category.IDENTITY, Category.COVERAGE),
            purpose="insurer: membership file", insurer_id=insurer_id, beneficiary_id=beneficiary_id,
            ref=f"MF{state.id}:{number}") for tag, beneficiary_id, number in events])
        progress = replace(state, lines_done=state.lines_done + len(chunk), created=state.created + created,
                           updated=state.updated + updated, unchanged=state.unchanged + unchanged,
                           refused=state.refused + len(refused))
        # Two runs of one import (the same file sent twice at once): the one that finds the
        # progress moved is rolled back whole, batch included.
        if not tx.memberships.advance_import(progress, refused, state.lines_done):
            raise Conflict("file", "this file is being imported by another run")
        return progress


def _remember(seen: dict[tuple[str, int], int], number: int, row: dict[str, str | None], today: date) -> None:
    """A committed line's key, as ``_apply`` counted it (only lines that parsed)."""
    if UNREADABLE in row:
        return
    try:
        line = parse_line(row, today)
    except DomainError:
        return
    seen.setdefault((line.member_number, line.rank), number)
