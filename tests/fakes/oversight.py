"""In-memory fakes of the oversight ports (services/ports/oversight.py), keeping their contracts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tests.fakes.state import FakeState
from tierspayant.audit.events import AccessEvent
from tierspayant.audit.merkle import leaf_hash
from tierspayant.audit.tree import FLOOR
from tierspayant.detection.baselines import Baseline
from tierspayant.detection.counting import HOUR, MINUTE, slot, window_slots
from tierspayant.services.records import (
    PLATFORM_KEY_OWNER,
    Alert,
    Containment,
    ContainmentScope,
    Presented,
    RecentActivity,
    SeenSubject,
    ShredRequest,
    StoredCheckpoint,
    StoredEvent,
)
from tierspayant.store.protection import Protection


class FakeAccessLog:
    def __init__(self, state: FakeState) -> None:
        self.s = state
        self.pending: list[AccessEvent] = []

    def append_events(self, events: Sequence[AccessEvent]) -> None:
        self.pending.extend(events)

    def flush(self) -> None:
        """At commit: the events get contiguous indexes (the SQL store does it just before COMMIT)."""
        for event in self.pending:
            entry = event.canonical()
            self.s.events.append((StoredEvent(len(self.s.events), entry, leaf_hash(entry)), event))
        self.pending = []

    def log_size(self) -> int:
        return len(self.s.events)

    def events(self, start: int, end: int) -> list[StoredEvent]:
        return [e for e, _ in self.s.events[start:end]]

    def events_page(self, start: int, limit: int) -> list[StoredEvent]:
        return [e for e, _ in self.s.events[start:start + limit]]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return [e.leaf_hash for e in self.events(start, end)]

    def events_of_beneficiary(self, pseudonym: str) -> list[StoredEvent]:
        return [e for e, a in self.s.events if a.beneficiary == pseudonym]

    def key_events(self, owner: int | None) -> list[StoredEvent]:
        wanted = None if owner == PLATFORM_KEY_OWNER else owner
        return [e for e, a in self.s.events if a.tag.value.startswith("keys:")
                and (owner is None or a.insurer_id == wanted)]

    def window_leaves(self, start: datetime, end: datetime) -> tuple[int, int] | None:
        seqs = [e.seq for e, a in self.s.events if start <= a.at < end]
        return (min(seqs), max(seqs)) if seqs else None

    def events_of_actor(self, *, account_id: int | None, organisation_id: int | None, start: datetime,
                        end: datetime) -> list[StoredEvent]:
        return [e for e, a in self.s.events if start <= a.at < end and (
            a.account_id == account_id if account_id is not None else a.organisation_id == organisation_id)]

    def archived_until(self) -> tuple[int, datetime | None]:
        return 0, None  # the fakes never archive (a PostgreSQL partition's affair)


class FakeCheckpoints:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def node_hashes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self.s.nodes[k] for k in wanted if k in self.s.nodes}

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        for level, idx, value in nodes:
            self.s.nodes[(level, idx)] = value

    def hashed_size(self) -> int:
        tops = [idx for level, idx in self.s.nodes if level == FLOOR]
        return (max(tops) + 1) << FLOOR if tops else 0

    def checkpoint_before(self, size: int, at: datetime | None = None) -> StoredCheckpoint | None:
        found = [c for s, c in self.s.checkpoints.items() if s <= size and (at is None or c.created_at < at)]
        return max(found, key=lambda c: c.size) if found else None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.s.checkpoints[max(self.s.checkpoints)] if self.s.checkpoints else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        return self.s.checkpoints.get(size)

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [self.s.checkpoints[k] for k in sorted(self.s.checkpoints)]

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        if checkpoint.size in self.s.checkpoints:
            return False
        self.s.checkpoints[checkpoint.size] = checkpoint
        return True

    def add_cosignature(self, size: int, witness: str, signature_line: str, at: datetime) -> None:
        self.s.cosignatures.setdefault(size, []).append(signature_line)

    def cosignatures(self, size: int) -> list[str]:
        return list(self.s.cosignatures.get(size, []))


class FakeDetectionCounters:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def record_presented(self, presented: Presented) -> tuple[datetime | None, datetime | None]:
        hits, failures, refusals = presented.counts
        key = (presented.account_id, presented.subject)
        old = self.s.seen.get(key)
        if old is None:
            seen = SeenSubject(presented.subject, presented.neighbourhood, presented.at, 1, hits, failures, refusals)
        else:
            s = old[1]
            seen = SeenSubject(s.subject, s.neighbourhood, presented.at, s.attempts + 1, s.hits + hits,
                               s.failures + failures, s.refusals + refusals)
        # As the SQL upsert: the organisation of the first check stays.
        self.s.seen[key] = (presented.organisation_id if old is None else old[0], seen)
        theirs = None
        if presented.organisation_id is not None:
            theirs = self.s.org_seen.get((presented.organisation_id, presented.subject))
            self.s.org_seen[(presented.organisation_id, presented.subject)] = presented.at
        mine = old[1].last_at if old else None
        if mine is not None and slot(mine, MINUTE) == slot(presented.at, MINUTE):
            theirs = mine  # as the SQL store: the account's own time stands for the organisation's
        return mine, theirs

    def _last(self, scope: ContainmentScope, holder_id: int) -> list[datetime]:
        if scope is ContainmentScope.ACCOUNT:
            return [s.last_at for (account, _), (_, s) in self.s.seen.items() if account == holder_id]
        return [at for (org, _), at in self.s.org_seen.items() if org == holder_id]

    def _distinct(self, account_id: int, organisation_id: int | None, at: datetime,
                        ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        # The model the slots implement: each identity in the slot of its latest presentation.
        def counts(scope: ContainmentScope, holder_id: int | None) -> tuple[int, ...]:
            last = self._last(scope, holder_id) if holder_id is not None else []
            return tuple(sum(1 for t in last if first <= slot(t, width) <= end) for width, first, end in window_slots(at))

        return counts(ContainmentScope.ACCOUNT, account_id), counts(ContainmentScope.ORGANISATION, organisation_id)

    def _recent_activity(self, account_id: int, neighbourhood: str, at: datetime) -> RecentActivity:
        hour = [s for (account, _), (_, s) in self.s.seen.items()
                if account == account_id and at - timedelta(hours=1) <= s.last_at <= at]
        ten = [s for s in hour if at - timedelta(minutes=10) <= s.last_at]
        neighbours: dict[str, int] = {}
        for s in hour:
            neighbours[s.neighbourhood] = neighbours.get(s.neighbourhood, 0) + 1
        return RecentActivity(len(ten), sum(1 for s in ten if s.hits == 0 and s.failures > 0),
                              max((s.failures for s in hour), default=0), sum(s.refusals for s in hour),
                              neighbours.get(neighbourhood, 0))

    def recent(self, account_id: int, organisation_id: int | None, subject: str, neighbourhood: str, at: datetime,
               ) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], RecentActivity, SeenSubject | None]:
        found = self.s.seen.get((account_id, subject))
        return (self._distinct(account_id, organisation_id, at), self._recent_activity(account_id, neighbourhood, at),
                found[1] if found else None)

    def purge_seen(self, before: datetime) -> int:
        old = [k for k, (_, s) in self.s.seen.items() if s.last_at < before]
        for key in old:
            del self.s.seen[key]
        org = [k for k, at in self.s.org_seen.items() if at < before]
        for o in org:
            del self.s.org_seen[o]
        return len(old) + len(org)

    def bump(self, scope: str, holder_id: int, at: datetime) -> int:
        key = (scope, holder_id, slot(at, HOUR))
        self.s.counters[key] = self.s.counters.get(key, 0) + 1
        return self.s.counters[key]

    def purge_hourly(self, scope: str, before: datetime) -> int:
        old = [k for k in self.s.counters if k[0] == scope and k[2] < slot(before, HOUR)]
        for key in old:
            del self.s.counters[key]
        return len(old)

    def hourly(self, scope: str, since: datetime, until: datetime) -> dict[tuple[int, int], int]:
        first, last = slot(since, HOUR), slot(until, HOUR)
        if scope == ContainmentScope.ACCOUNT.value:  # the model the slots implement
            out: dict[tuple[int, int], int] = {}
            for (account, _), (_, seen) in self.s.seen.items():
                if first <= (hour := slot(seen.last_at, HOUR)) <= last:
                    out[(account, hour)] = out.get((account, hour), 0) + 1
            return out
        return {(h, s): c for (sc, h, s), c in self.s.counters.items() if sc == scope and first <= s <= last}

    def baseline(self, account_id: int) -> Baseline | None:
        return self.s.baselines.get(account_id)

    def save_baseline(self, account_id: int, baseline: Baseline, previous: Baseline | None) -> bool:
        if self.s.baselines.get(account_id) != previous:
            return False
        self.s.baselines[account_id] = baseline
        return True


class FakeContainments:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def contained_accounts_of_organisation(self, organisation_id: int, since: datetime) -> int:
        return len({c.target_id for c in self.s.containments.values() if c.scope is ContainmentScope.ACCOUNT
                    and c.created_at >= since and self._organisation(c.target_id) == organisation_id})

    def _organisation(self, account_id: int) -> int | None:
        account = self.s.accounts.get(account_id)
        return account.organisation_id if account else None

    def add_containment(self, containment: Containment) -> int:
        new = self.s.new_id()
        self.s.containments[new] = replace(containment, id=new)
        return new

    def recent(self, *, active_at: datetime | None = None, limit: int = 200) -> list[Containment]:
        found = sorted(self.s.containments.values(), key=lambda c: -c.id)
        return [c for c in found if active_at is None or c.active(active_at)][:limit]

    def lift_containment(self, containment_id: int, by: int, at: datetime) -> bool:
        return _first_time(self.s.containments, containment_id, "lifted_at", lifted_at=at, lifted_by=by)

    def add_alert(self, at: datetime, severity: str, containment_id: int | None, text: str) -> int:
        new = self.s.new_id()
        self.s.alerts.append(Alert(new, at, severity, containment_id, text))
        return new

    def alerts(self, limit: int = 200) -> list[Alert]:
        return sorted(self.s.alerts, key=lambda a: -a.id)[:limit]


class FakeKeyStore:
    """Keys as version lists; "sealed rows" as {row id: version} per table (what re-encryption moves)."""

    def __init__(self, state: FakeState) -> None:
        self.s = state

    def versions(self, owner: int) -> list[int]:
        return sorted(self.s.keys.get(owner, []))

    def rotate(self, owner: int) -> int:
        new = max(self.s.keys.get(owner, [0])) + 1
        self.s.keys.setdefault(owner, []).append(new)
        return new

    def sealed_rows(self, owner: int) -> dict[str, int]:
        held = self.s.sealed.get(owner, {})
        return {table: len(held.get(table, {})) for table in Protection.tables_of(owner)}  # zeros included

    def reencrypt(self, owner: int, table: str, after_id: int, limit: int) -> tuple[int, int]:
        rows = self.s.sealed.get(owner, {}).get(table, {})
        batch = sorted(r for r in rows if r > after_id)[:limit]
        current = max(self.s.keys[owner])
        done = 0
        for row in batch:
            if rows[row] != current:
                rows[row] = current
                done += 1
        return (batch[-1] if batch else after_id), done

    def retire_old(self, owner: int) -> list[int]:
        current = max(self.s.keys[owner])
        used = {v for rows in self.s.sealed.get(owner, {}).values() for v in rows.values()}
        old = [v for v in self.versions(owner) if v < current and v not in used]
        self.s.keys[owner] = [v for v in self.s.keys[owner] if v not in old]
        return old

    def shred(self, owner: int) -> int:
        return len(self.s.keys.pop(owner, []))

    def add_shred_request(self, request: ShredRequest) -> int:
        new = self.s.new_id()
        self.s.shred_requests[new] = replace(request, id=new)
        return new

    def shred_request(self, request_id: int) -> ShredRequest | None:
        return self.s.shred_requests.get(request_id)

    def approve_shred_request(self, request_id: int, by: int, at: datetime) -> bool:
        return _first_time(self.s.shred_requests, request_id, "approved_by", approved_by=by, approved_at=at)


def _first_time(rows: dict[int, Any], row_id: int, marker: str, **changes: Any) -> bool:
    """Set ``changes`` on a row whose ``marker`` is still None; False when absent or already set
    (what the SQL store's conditional UPDATE does)."""
    found = rows.get(row_id)
    if found is None or getattr(found, marker) is not None:
        return False
    rows[row_id] = replace(found, **changes)
    return True
