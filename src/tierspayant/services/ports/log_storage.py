"""Where the access log's events live over months (docs/THREATS.md, "Transparency log"): on
PostgreSQL one partition a month, created ahead, a DEFAULT one as a safety net, and old months
moved out to compressed files (archived) and back (restored). On SQLite one table: nothing to
create, nothing to archive (``partitioned`` is False)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tierspayant.domain.errors import InvalidField


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    #: [lower, upper) of the events' dates; both None for the DEFAULT partition.
    lower: datetime | None
    upper: datetime | None
    #: The planner's estimate (exact for the DEFAULT partition), and its size on disk with indexes.
    events: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PartitionsEnsured:
    created: list[str]
    #: Events in the DEFAULT partition after the step, and the months they are dated in: an
    #: insert for a month without a partition lands there rather than fail the access.
    default_events: int
    default_months: list[datetime]


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """Partitions dated before ``before``, and the leaves [seq_from, seq_to) that go with them:
    theirs and the few later-dated ones a group commit sequenced among them."""

    before: datetime
    partitions: list[Partition]
    seq_from: int
    seq_to: int
    #: Events of the DEFAULT partition dated before ``before``: the plan is refused while any.
    default_before: int


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    partition: str  # "" for the later-dated events that went with the partitions
    lower: datetime | None
    upper: datetime | None
    file: str  # relative to the archive directory
    sha256: str
    events: int


@dataclass(frozen=True, slots=True)
class Archive:
    id: int
    seq_from: int
    seq_to: int
    before: datetime
    #: The latest date among the archived events: every event dated after it is still held.
    last_at: datetime
    events: int
    files: list[ArchiveFile]
    archived_at: datetime
    restored_at: datetime | None


class EventsArchived(InvalidField):
    """A query bounded in time reaches months moved out of the database: its answer would
    silently miss their events (restore them: ``tiers audit restore``). Its start is what is
    out of range (a 422 naming it, like any invalid field)."""

    def __init__(self, last_at: datetime) -> None:
        super().__init__("start", f"events dated up to {last_at.isoformat()} are archived: "
                                  "restore them first (tiers audit restore)")
        self.last_at = last_at


class ArchiveRefused(Exception):
    """An archive or a restore that cannot be done as asked (the message says why); nothing
    was changed."""


class LogStorage(Protocol):
    @property
    def partitioned(self) -> bool:
        """True on PostgreSQL (monthly partitions); False on SQLite (one table)."""
        ...

    def ensure(self, months: Sequence[datetime], adopt_limit: int) -> PartitionsEnsured:
        """Create the partitions of these months (each the first instant of a month, UTC) if
        missing, and move the DEFAULT partition's events into their month's partition when
        there are at most ``adopt_limit`` of them (a larger move would hold the appenders up:
        an operator's step). Idempotent; one process at a time (the others skip)."""
        ...

    def partitions(self) -> list[Partition]:
        """The partitions attached, oldest first, the DEFAULT one last."""
        ...

    def plan_archive(self, before: datetime) -> ArchivePlan | None:
        """What archiving the months before ``before`` would move, or None when no partition
        lies wholly before it."""
        ...

    def write_archive(self, plan: ArchivePlan, at: datetime) -> Archive:
        """Copy the plan's events to compressed files with their SHA-256 (nothing is removed
        before every leaf of [seq_from, seq_to) is written, once), then detach and drop the
        partitions and delete the events that went with them, recording the archive in the
        same transaction. Raises ``ArchiveRefused`` (nothing removed) on a gap in the leaves."""
        ...

    def archives(self) -> list[Archive]:
        """Every archive, oldest first (restored ones included)."""
        ...

    def restore(self, archive: Archive, at: datetime) -> int:
        """Check the files against their SHA-256, load them back, attach their partitions and
        mark the archive restored, in one transaction; the events restored. Only the latest
        archive not yet restored can be (the archived leaves stay a prefix of the log)."""
        ...
