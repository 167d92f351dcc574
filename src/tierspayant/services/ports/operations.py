"""What operations read from the store (issue 19, point 4): the gauges ``/metrics`` computes at
scrape time, and the readiness probe behind ``/v1/health/ready``. Counts and ids only, never a
person (docs/THREATS.md: metrics and logs hold no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """One key owner's stored data keys (an insurer's id, or 0 for the platform's)."""

    owner: int
    count: int
    current: int


@dataclass(frozen=True, slots=True)
class Readings:
    """The store's state for the gauges, read in one read-only transaction."""

    #: Events in the transparency log (its tree size).
    log_size: int
    #: The latest signed checkpoint's size and when it was signed; None before the first.
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    #: Containments in force, as ((scope, action), count).
    containments: tuple[tuple[tuple[str, str], int], ...]
    keys: tuple[KeyVersions, ...]


@dataclass(frozen=True, slots=True)
class Probe:
    """A readiness probe's outcome: ``failed`` says which step failed (None: both worked) --
    ``database`` when the write transaction could not start, ``log`` when the log's append
    path failed inside it -- and ``error`` is what was raised (for the caller to classify:
    a database that is away makes the log's step fail too)."""

    failed: Literal["database", "log"] | None
    error: BaseException | None = None


class Operations(Protocol):
    def readings(self, at: datetime) -> Readings:
        """The gauges' values at ``at``, by cheap queries only: the log's size from its head
        row (never a count of the events), the latest checkpoint by primary key, the
        containments in force and the data keys (small tables). Raises what the database
        raises when it cannot be read."""
        ...

    def probe(self, at: datetime) -> Probe:
        """Whether a write transaction (the writers' lock) and the transparency log's append
        path work, by a transaction that takes them and is rolled back: nothing is written,
        no event enters the log. Never raises."""
        ...


class Lease(Protocol):
    """A role exactly one process holds at a time among every process on the same database
    (issue 19, point 5): the checkpoint signer. Held until the process (or its connection to
    the database) ends; then another process takes it at its next ``hold``."""

    def hold(self) -> bool:
        """Whether this process holds the role now, taking it if nobody does."""
        ...

    def release(self) -> None:
        """Give the role up for good (at shutdown), so that another process takes it at once."""
        ...
