"""The ports that watch over the platform: the access log and its signed checkpoints,
detection's counters, containments and alerts, and the data keys (contracts:
``services/ports/__init__.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from tierspayant.audit.events import AccessEvent
from tierspayant.detection.baselines import Baseline
from tierspayant.services.records import (
    Alert,
    Containment,
    Incident,
    IncidentExport,
    IncidentStep,
    Presented,
    RecentActivity,
    SeenSubject,
    ShredRequest,
    StoredCheckpoint,
    StoredEvent,
)


class AccessLog(Protocol):
    """The transparency log's events (RFC 9162 leaves). Part of every transaction, so that an
    access and its event commit together or not at all (fail closed)."""

    def append_events(self, events: Sequence[AccessEvent]) -> None:
        """Record events, in order, in this transaction: they get contiguous leaf indexes and
        commit with it, or not at all (then the commit raises ``LogUnavailable``)."""
        ...

    def log_size(self) -> int:
        """How many events the log holds (committed ones)."""
        ...

    def events(self, start: int, end: int) -> list[StoredEvent]:
        """Events with start <= seq < end, in order (a missing seq is simply absent)."""
        ...

    def events_page(self, start: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with seq >= start, in order (gaps are not filled)."""
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of events start <= seq < end, in order."""
        ...

    def events_of_beneficiary(self, pseudonym: str) -> list[StoredEvent]:
        """Every event about this beneficiary pseudonym, in order."""
        ...

    def key_events(self, owner: int | None) -> list[StoredEvent]:
        """The key operations (rotations, retirements, shred requests, shreds) on one
        insurer's keys, or on every owner's when ``owner`` is None, in order."""
        ...

    def window_leaves(self, start: datetime, end: datetime) -> tuple[int, int] | None:
        """The first and last leaf index of the events dated in [start, end), or None when the
        window holds none. Events are appended in about the order of their dates (a group
        commit may interleave a few seconds): the answer is exact, whatever the store's way."""
        ...

    def events_of_actor(self, *, account_id: int | None, organisation_id: int | None, start: datetime,
                        end: datetime) -> list[StoredEvent]:
        """Events of one account (or, when ``account_id`` is None, one organisation) with
        start <= at < end, in order. Raises ``EventsArchived`` (services/ports/log_storage.py)
        when ``start`` reaches archived months, as ``window_leaves`` does."""
        ...

    def archived_until(self) -> tuple[int, datetime | None]:
        """(cut, last_at): the leaves [0, cut) are archived, the latest dated ``last_at``;
        (0, None) when nothing is."""
        ...


class Checkpoints(Protocol):
    """Signed tree heads, their witnesses' cosignatures and the stored subtree hashes."""

    def node_hashes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored perfect-subtree hashes by (level, idx); absent ones are left out."""
        ...

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store perfect-subtree hashes (level, idx, hash); each is computed once."""
        ...

    def hashed_size(self) -> int:
        """How far the stored tree reaches: every subtree of level >= FLOOR (audit/tree.py)
        within the first ``hashed_size()`` leaves is stored (0 when none is)."""
        ...

    def checkpoint_before(self, size: int, at: datetime | None = None) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree of at most ``size`` leaves (signed before ``at``
        when given), or None."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, or None before the first."""
        ...

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint of this tree size, or None."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, smallest tree first."""
        ...

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False (nothing written) when one of this size exists."""
        ...

    def add_cosignature(self, size: int, witness: str, signature_line: str, at: datetime) -> None:
        """Store a witness's cosignature line of the checkpoint of this size."""
        ...

    def cosignatures(self, size: int) -> list[str]:
        """The cosignature lines of the checkpoint of this size, in arrival order."""
        ...


class DetectionCounters(Protocol):
    """Per-(account, presented identity) counters and distinct counts kept in slots
    (detection/counting.py), shared by every server process. No method's cost grows with what
    the account or its organisation presented before."""

    def record_presented(self, presented: Presented) -> tuple[datetime | None, datetime | None]:
        """Count one rights check: the (account, subject) counters, the organisation's memory of
        the subject, and the subject moved to the current slots of the account's and the
        organisation's distinct counts. Returns when the account and the organisation had last
        presented it (None: never, or forgotten); the organisation's to the minute, the slots'
        finest width (an account presenting it again within the minute does not rewrite the
        organisation's memory). Exact under concurrent writers."""
        ...

    def recent(self, account_id: int, organisation_id: int | None, subject: str, neighbourhood: str, at: datetime,
               ) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], RecentActivity, SeenSubject | None]:
        """What a rights check reads before its write, in one round trip where the store can:
        - the distinct identities the account and the organisation (zeros: None) presented in
          each window of WINDOWS ending at ``at``, from their slots (``window_slots``);
        - aggregates over the identities the account presented last in the 10 minutes and the
          hour ending at ``at`` (``neighbourhood``: the one ``my_neighbours_hour`` counts);
        - the account's counters for ``subject``, or None.
        Windows are bounded on both sides: nothing presented after ``at`` counts. No part's cost
        grows with what the account presented before."""
        ...

    def bump(self, scope: str, holder_id: int, at: datetime) -> int:
        """One more in the holder's counter of ``scope`` for the hour of ``at``; the new count.
        Scopes other than account and organisation (``insurer_proofless``, ``insurer_alerted``)
        are kept a week and a day (their baselines)."""
        ...

    def purge_hourly(self, scope: str, before: datetime) -> int:
        """Forget the holders' hourly counters of ``scope`` for the hours before ``before``'s."""
        ...

    def hourly(self, scope: str, since: datetime, until: datetime) -> dict[tuple[int, int], int]:
        """Every holder's hourly counters of ``scope`` between the hours of ``since`` and
        ``until`` (both included), as {(holder, hour slot): count}; for ``account``, the hour
        slots of its distinct counts (identities whose latest presentation fell in that hour)."""
        ...

    def baseline(self, account_id: int) -> Baseline | None:
        """What the account usually does (detection/baselines.py), or None if nothing learned."""
        ...

    def save_baseline(self, account_id: int, baseline: Baseline, previous: Baseline | None) -> bool:
        """Store the account's baseline if it is still ``previous`` (None: none yet); False when
        another worker learned first (nothing changed)."""
        ...

    def purge_seen(self, before: datetime) -> int:
        """Forget the counters, memories and slots last used before ``before``; how many rows went."""
        ...


class Containments(Protocol):
    """Containments (detection's decisions and officers' kill switches) and security alerts."""

    def contained_accounts_of_organisation(self, organisation_id: int, since: datetime) -> int:
        """How many distinct accounts of the organisation were contained since ``since``."""
        ...

    def add_containment(self, containment: Containment) -> int:
        """A new containment's id (``containment.id`` ignored)."""
        ...

    def recent(self, *, active_at: datetime | None = None, limit: int = 200) -> list[Containment]:
        """Containments newest first, at most ``limit``; only those active at ``active_at`` when given."""
        ...

    def lift_containment(self, containment_id: int, by: int, at: datetime) -> bool:
        """Lift a containment; False (nothing written) when there is no such containment or it
        was already lifted."""
        ...

    def add_alert(self, at: datetime, severity: str, containment_id: int | None, text: str) -> int:
        """A new alert's id (``text`` holds ids and reasons, never personal data)."""
        ...

    def alerts(self, limit: int = 200) -> list[Alert]:
        """Alerts newest first, at most ``limit``."""
        ...


class KeyStore(Protocol):
    """Data-key versions per owner (an insurer's id, or ``PLATFORM_KEY_OWNER``) and the rows
    sealed under them; requests for a crypto-shred awaiting a second officer."""

    def versions(self, owner: int) -> list[int]:
        """The owner's stored key versions, ascending (empty once shredded or before the first)."""
        ...

    def rotate(self, owner: int) -> int:
        """Create the owner's next key version, which takes writes at once; returns it."""
        ...

    def sealed_people(self, tables: Sequence[str], owners: Sequence[int] | None = None,
                      ) -> Iterator[tuple[int, int, str, int, int]]:
        """Each sealed row of ``tables`` that concerns a beneficiary (``breach.scope``:
        beneficiaries, optical purchases, quotes, invoices), of the ``owners`` (every insurer
        when None), as (owner, beneficiary id, table, row id, key version), streamed: what a
        compromised key or a dumped table exposes."""
        ...

    def sealed_rows(self, owner: int) -> dict[str, int]:
        """Rows holding the owner's ciphertexts, per table (every sealed table, zeros included)."""
        ...

    def reencrypt(self, owner: int, table: str, after_id: int, limit: int) -> tuple[int, int]:
        """Re-seal up to ``limit`` rows of ``table`` with id > ``after_id`` under the owner's
        current version: (last id looked at, rows re-sealed). The last id equals ``after_id``
        when the table is done. Rows already on the current version are left alone."""
        ...

    def retire_old(self, owner: int) -> list[int]:
        """Delete the owner's versions older than the current one that no row uses any more;
        returns them (a version still in use waits for the next pass)."""
        ...

    def shred(self, owner: int) -> int:
        """Destroy every key version of the owner (crypto-shredding: its sealed data becomes
        unreadable, for good); returns how many versions were destroyed."""
        ...

    def add_shred_request(self, request: ShredRequest) -> int:
        """A new pending shred request's id (``request.id`` ignored)."""
        ...

    def shred_request(self, request_id: int) -> ShredRequest | None:
        """The request, or None."""
        ...

    def approve_shred_request(self, request_id: int, by: int, at: datetime) -> bool:
        """Mark a pending request approved by ``by``; False (nothing written) when it is absent
        or was already approved."""
        ...


class Incidents(Protocol):
    """Breach-response incidents, their steps (append-only) and computed scope."""

    def add_incident(self, incident: Incident) -> int:
        """Store a new incident (its ``id`` ignored); returns the id given."""
        ...

    def incident(self, incident_id: int) -> Incident | None:
        """The incident, or None."""
        ...

    def incidents(self, limit: int = 200) -> list[Incident]:
        """The latest incidents first."""
        ...

    def set_step(self, incident_id: int, step: str) -> None:
        """Move the incident to ``step`` (the use case checks the order)."""
        ...

    def add_step(self, step: IncidentStep) -> int:
        """Record a step taken (append-only; its ``id`` ignored); returns the id given."""
        ...

    def steps(self, incident_id: int) -> list[IncidentStep]:
        """In the order taken."""
        ...

    def save_scope(self, incident_id: int, scope: str, digest: str, checkpoint: int) -> None:
        """Store the computed scope (canonical JSON), its digest and the size of the signed
        checkpoint it was proved against, replacing any earlier one."""
        ...

    def add_report(self, incident_id: int, insurer_id: int, kind: str, body: dict[str, Any], by: int,
                   at: datetime) -> int:
        """Store the next version of a controller's report of ``kind``; returns its version (1, 2...)."""
        ...

    def reports(self, incident_id: int, insurer_id: int | None = None) -> list[tuple[int, str, int, dict[str, Any]]]:
        """(insurer, kind, version, body) of the incident's reports, oldest first."""
        ...

    def add_notices(self, rows: Sequence[tuple[int, int, str, str, str]], at: datetime) -> int:
        """Queue notices (incident, insurer, person, channel, text); one already queued for the same
        (incident, person, channel) is left as it is. Returns how many were new."""
        ...

    def notices(self, incident_id: int) -> dict[str, int]:
        """Notices queued per channel."""
        ...

    def add_export(self, incident_id: int, insurer_id: int, requested_by: int, at: datetime) -> int:
        """Record an export request (not approved, nothing sealed yet); returns its id."""
        ...

    def export(self, export_id: int) -> IncidentExport | None:
        """The export's record (never its sealed file), or None."""
        ...

    def approve_export(self, export_id: int, by: int, at: datetime, expires_at: datetime, sealed: str) -> bool:
        """Record the approval and the sealed file, if not approved yet; False otherwise."""
        ...

    def take_export(self, export_id: int, at: datetime) -> str | None:
        """The sealed file, once: marks it downloaded if approved, not yet downloaded and not
        expired at ``at`` (atomically: two concurrent downloads get it once); None otherwise."""
        ...
