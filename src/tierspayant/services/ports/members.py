"""Membership files (``services/members.py``): an insurer's members found in batches, updated,
their rights replaced, and each import's progress and refused lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tierspayant.services.records import Beneficiary, RightsPeriod


@dataclass(frozen=True, slots=True)
class MemberImport:
    """One membership file's import: how far it got (lines committed) and what it did."""

    id: int
    insurer_id: int
    digest: str
    lines_done: int
    created: int
    updated: int
    unchanged: int
    refused: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int  # 1 is the header; the first member is line 2
    field: str
    message: str


class Memberships(Protocol):
    def members(self, insurer_id: int, member_numbers: Sequence[str],
                ) -> dict[str, list[tuple[Beneficiary, list[RightsPeriod]]]]:
        """The insurer's beneficiaries of these member numbers with their rights periods (by
        blind index, one statement), by member number; numbers nobody holds are absent."""
        ...

    def add_members(self, new: Sequence[tuple[Beneficiary, Sequence[RightsPeriod]]]) -> list[int]:
        """Register these beneficiaries (ids ignored) with their rights periods, in one batch;
        their new ids, in order."""
        ...

    def update_beneficiary(self, beneficiary: Beneficiary) -> None:
        """Write a beneficiary's identity and contract (sealed again, blind indexes renewed)."""
        ...

    def replace_rights(self, beneficiary_id: int, periods: Sequence[RightsPeriod]) -> None:
        """Make these the beneficiary's rights periods (the others go)."""
        ...

    def current_import(self, insurer_id: int, digest: str) -> MemberImport | None:
        """The latest import of this file for this insurer (finished or not), or None."""
        ...

    def import_by_id(self, import_id: int) -> MemberImport | None:
        """One import by its id, or None."""
        ...

    def start_import(self, insurer_id: int, digest: str, at: datetime) -> MemberImport:
        """A new import of this file, at line 0."""
        ...

    def advance_import(self, progress: MemberImport, refusals: Sequence[Refusal], done_before: int) -> bool:
        """Record how far the import got and the lines it refused since (in the batch's
        transaction: a batch and its progress land together, or neither) -- only if it had
        ``done_before`` lines done: False when another run of the same import moved it meanwhile."""
        ...

    def refusals(self, import_id: int) -> list[Refusal]:
        """Every line the import refused, in line order."""
        ...
