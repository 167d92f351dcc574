"""Breach response (docs/THREATS.md, "Breach response"; GDPR Art. 33 and 34): a security officer
or the DPO opens an incident -- what is compromised, the window, when the operator became aware
-- and takes it through steps that cannot be skipped, each by a named account and on the
transparency log. The scope (breach/scope.py) is computed from the log's events of the
compromised principals and from the store's sealed rows, proved against a signed checkpoint
that covers the window."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from tierspayant.audit.events import AccessEvent, Category, Tag
from tierspayant.breach.report import reminders_due
from tierspayant.breach.scope import TABLE_CATEGORIES, Compromised, Scope
from tierspayant.domain.errors import InvalidField
from tierspayant.security.digests import content_digest
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import AuditService, Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import (
    Clock,
    HasAccounts,
    HasBeneficiaries,
    HasCheckpoints,
    HasContainments,
    HasDestinations,
    HasIncidents,
    HasKeys,
    HasLog,
    HasOutbox,
    HasProfessionals,
    HasReference,
    HasSessions,
    UnitOfWork,
)
from tierspayant.services.records import Incident, IncidentStep, StoredEvent
from tierspayant.services.scope_check import ScopeCheck, verify_stored_scope


class IncidentStore(HasIncidents, HasLog, HasCheckpoints, HasAccounts, HasSessions, HasKeys, HasReference,
                    HasProfessionals, HasBeneficiaries, HasContainments, HasDestinations, HasOutbox, Protocol):
    """The ports this use case works with (services/ports/)."""


#: The steps, in the only order allowed. "cnil_notified" is each controller's own: the incident
#: reaches it when every insurer in the scope has recorded its notification.
STEPS = ("opened", "scoped", "controllers_informed", "cnil_notified", "people_notified", "closed")
HANDLERS = (Role.SECURITY_OFFICER, Role.DPO)
#: Recorded among an incident's steps (not one of STEPS): the 72 h clock's reminders.
REMINDER = "reminder"
#: Tables an incident may declare dumped: those that hold people's data (breach/scope.py), and
#: the log itself (its entries hold pseudonyms, never an identity).
DUMPABLE = (*TABLE_CATEGORIES, "audit_events")
SUMMARY_MAX = 4000


@dataclass(frozen=True, slots=True)
class IncidentRequest:
    summary: str
    aware_at: datetime
    window_start: datetime
    window_end: datetime
    accounts: tuple[int, ...] = ()
    sessions: tuple[int, ...] = ()
    organisations: tuple[int, ...] = ()
    professionals: tuple[int, ...] = ()
    key_versions: tuple[tuple[int, int], ...] = ()  # (insurer id, data-key version)
    kek: bool = False
    tables: tuple[str, ...] = ()


def require_handler(principal: Principal) -> None:
    if principal.role not in HANDLERS:
        raise Forbidden("security officers and the DPO only")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidField(name, "a date and time with its time zone")
    return value


class IncidentService(UseCase[IncidentStore]):
    def __init__(self, uow: UnitOfWork[IncidentStore], clock: Clock, recorder: Recorder, audit: AuditService) -> None:
        super().__init__(uow, clock, recorder)
        self.audit = audit

    # -- opening ---------------------------------------------------------------------------
    def open(self, principal: Principal, request: IncidentRequest) -> Incident:
        """Validate everything first (4xx naming the field, nothing written), then record the
        incident, its first step and its event together."""
        require_handler(principal)
        now = self.clock.now()
        start = _aware(request.window_start, "window_start")
        end = _aware(request.window_end, "window_end")
        aware = _aware(request.aware_at, "aware_at")
        if not start < end:
            raise InvalidField("window_end", "must be after window_start")
        if end > now + timedelta(minutes=1):
            raise InvalidField("window_end", "in the future")
        if aware < start:
            raise InvalidField("aware_at", "before the window: the operator cannot have known of it yet")
        if aware > now + timedelta(minutes=1):
            raise InvalidField("aware_at", "in the future")
        summary = request.summary.strip()
        if not summary or len(summary) > SUMMARY_MAX:
            raise InvalidField("summary", f"what happened, 1 to {SUMMARY_MAX} characters")
        compromised = Compromised(frozenset(request.accounts), frozenset(request.sessions),
                                  frozenset(request.organisations), frozenset(request.professionals),
                                  frozenset(request.key_versions), request.kek, frozenset(request.tables))
        if not (compromised.principals() or compromised.key_versions or compromised.kek or compromised.tables):
            raise InvalidField("accounts", "name at least one compromised account, session, organisation, "
                                           "professional, key or table")
        with self.uow() as tx:
            self._check_exists(tx, request)
            incident = Incident(0, now, principal.account_id, aware, start, end, summary, compromised.to_dict(),
                                STEPS[0])
            incident_id = tx.incidents.add_incident(incident)
            tx.incidents.add_step(IncidentStep(0, incident_id, STEPS[0], None, principal.account_id, now,
                                               "incident opened"))
            tx.log.append_events([self.event(principal, now, Tag.INCIDENT_OPEN, incident_id)])
        return replace(incident, id=incident_id)

    @staticmethod
    def _check_exists(tx: IncidentStore, request: IncidentRequest) -> None:
        """Each named thing exists: a mistyped id must not silently scope nobody."""
        for n, account_id in enumerate(request.accounts):
            if tx.accounts.account(account_id) is None:
                raise InvalidField(f"accounts[{n}]", "no such account")
        for n, session_id in enumerate(request.sessions):
            if tx.sessions.session(session_id) is None:
                raise InvalidField(f"sessions[{n}]", "no such session")
        for n, organisation_id in enumerate(request.organisations):
            if not tx.accounts.accounts_of_organisation(organisation_id):
                raise InvalidField(f"organisations[{n}]", "no such organisation")
        for n, professional_id in enumerate(request.professionals):
            if tx.professionals.professional(professional_id) is None:
                raise InvalidField(f"professionals[{n}]", "no such professional")
        for n, (owner, version) in enumerate(request.key_versions):
            if tx.reference.insurer(owner) is None:
                raise InvalidField(f"key_versions[{n}]", "no such insurer")
            if version < 1:
                raise InvalidField(f"key_versions[{n}]", "a data-key version is 1 or more")
        for n, table in enumerate(request.tables):
            if table not in DUMPABLE:
                raise InvalidField(f"tables[{n}]", f"one of {', '.join(DUMPABLE)}")

    def event(self, principal: Principal, at: datetime, tag: Tag, incident_id: int,
               insurer_id: int | None = None) -> AccessEvent:
        return self.recorder.event(principal, at, tag, categories=(Category.IDENTITY,),
                                   purpose="breach response", insurer_id=insurer_id, ref=f"incident:{incident_id}")

    # -- reading ---------------------------------------------------------------------------
    def get(self, principal: Principal, incident_id: int) -> tuple[Incident, list[IncidentStep]]:
        require_handler(principal)
        with self.uow(readonly=True) as tx:
            incident = tx.incidents.incident(incident_id)
            if incident is None:
                raise NotFound()
            return incident, tx.incidents.steps(incident_id)

    def all(self, principal: Principal) -> list[Incident]:
        require_handler(principal)
        with self.uow(readonly=True) as tx:
            return tx.incidents.incidents()

    # -- the scope -------------------------------------------------------------------------
    def compute_scope(self, principal: Principal, incident_id: int) -> Scope:
        """The exact scope, proved against a signed checkpoint that covers the window (one is
        signed now if the window's last events are not yet covered). Allowed until the
        controllers are informed; computing again replaces it (new evidence, a longer window)."""
        require_handler(principal)
        incident, _ = self.get(principal, incident_id)
        if STEPS.index(incident.step) > STEPS.index("scoped"):
            raise InvalidField("step", "the controllers were informed on this scope: open a new incident")
        with self.uow(readonly=True) as tx:
            leaves = tx.log.window_leaves(incident.window_start, incident.window_end)
            latest = tx.checkpoints.latest_checkpoint()
        if leaves is not None and (latest is None or latest.size <= leaves[1]):
            latest = self.audit.checkpoint()
        scope, log_only = self.scope_of(incident, leaves, latest.size if latest else 0)
        # The log's part alone, which verify-scope recomputes from the events table and the
        # signed checkpoint without the application's other tables.
        log_digest = content_digest(log_only.canonical())
        now = self.clock.now()
        with self.uow() as tx:
            current = tx.incidents.incident(incident_id)
            assert current is not None
            if current.step != incident.step:
                raise InvalidField("step", "the incident moved on meanwhile; read it again")
            stored = json.dumps({**scope.to_dict(), "log_digest": log_digest}, sort_keys=True, separators=(",", ":"))
            digest = content_digest(stored.encode())
            tx.incidents.save_scope(incident_id, stored, digest, scope.checkpoint_size)
            if incident.step == "opened":
                tx.incidents.set_step(incident_id, "scoped")
            tx.incidents.add_step(IncidentStep(
                0, incident_id, "scoped", None, principal.account_id, now,
                f"{scope.people()} people, {len(scope.controllers)} controller(s), digest {digest[:16]}"))
            tx.log.append_events([self.event(principal, now, Tag.INCIDENT_SCOPE, incident_id)])
        return scope

    def scope_of(self, incident: Incident, leaves: tuple[int, int] | None, checkpoint_size: int,
                 ) -> tuple[Scope, Scope]:
        """Compute the scope from the store: the compromised principals' events of the window
        (by account and organisation: indexed), and the sealed rows of compromised keys or
        dumped tables; and the same from the events alone (the part verify-scope checks)."""
        compromised = Compromised.from_dict(incident.compromised)
        scope = Scope(incident.window_start, incident.window_end, compromised, checkpoint_size=checkpoint_size)
        log_only = Scope(incident.window_start, incident.window_end, compromised, checkpoint_size=checkpoint_size)
        if leaves is not None:
            scope.first_leaf, scope.last_leaf = log_only.first_leaf, log_only.last_leaf = leaves
        with self.uow(readonly=True) as tx:
            accounts = set(compromised.accounts)
            for session_id in compromised.sessions:
                session = tx.sessions.session(session_id)
                if session is not None:
                    accounts.add(session.account_id)
            for professional_id in compromised.professionals:
                account = tx.accounts.account_of_professional(professional_id)
                if account is not None:
                    accounts.add(account.id)
            seen: set[int] = set()
            events: list[tuple[int, AccessEvent]] = []
            for account_id in sorted(accounts):
                events += self._decoded(tx.log.events_of_actor(
                    account_id=account_id, organisation_id=None, start=incident.window_start,
                    end=incident.window_end), seen)
            for organisation_id in sorted(compromised.organisations):
                events += self._decoded(tx.log.events_of_actor(
                    account_id=None, organisation_id=organisation_id, start=incident.window_start,
                    end=incident.window_end), seen)
            scope.add_events(events)
            log_only.add_events(events)
            tables = set(compromised.tables)
            if compromised.kek or compromised.key_versions:
                tables |= set(TABLE_CATEGORIES)  # every table a key seals
            owners: Sequence[int] | None = None
            if not compromised.kek and not compromised.tables:
                owners = sorted({owner for owner, _ in compromised.key_versions})
            rows = tx.keys.sealed_people(sorted(tables & set(TABLE_CATEGORIES)), owners) if tables else iter(())
            scope.add_sealed((owner, self.recorder.pseudonym(owner, beneficiary), table, row_id, version)
                             for owner, beneficiary, table, row_id, version in rows)
        return scope, log_only

    @staticmethod
    def _decoded(rows: Sequence[StoredEvent], seen: set[int]) -> list[tuple[int, AccessEvent]]:
        out = []
        for row in rows:
            if row.seq not in seen:  # an account's event is also its organisation's
                seen.add(row.seq)
                out.append((row.seq, AccessEvent.from_canonical(row.entry)))
        return out

    def scope(self, principal: Principal, incident_id: int) -> dict[str, object]:
        """The stored scope's summary per controller (counts and categories; the people
        themselves go to each controller only through its encrypted export)."""
        incident, _ = self.get(principal, incident_id)
        if incident.scope is None:
            raise NotFound()
        raw = json.loads(incident.scope)
        for controller in raw["controllers"]:
            controller.pop("exposures")
        return {**raw, "digest": incident.scope_digest}

    # -- the auditor's check (services/scope_check.py) -------------------------------------
    def verify_scope(self, principal: Principal, incident_id: int, batch: int = 20_000,
                     on_progress: Callable[[int], None] | None = None) -> ScopeCheck:
        """Recompute the scope's log part from the events table and the signed checkpoint alone."""
        incident, _ = self.get(principal, incident_id)
        if incident.scope is None:
            raise NotFound()
        return verify_stored_scope(self.uow, self.audit, incident.scope, batch, on_progress)

    # -- steps -----------------------------------------------------------------------------
    def advance(self, principal: Principal, incident_id: int, step: str, note: str = "",
                insurer_id: int | None = None) -> Incident:
        """Take the next step, by this account: none can be skipped, none taken twice.
        "cnil_notified" is recorded per controller (``insurer_id``, an insurer in the scope);
        the incident reaches it with the last one."""
        require_handler(principal)
        if step not in STEPS:
            raise InvalidField("step", f"one of {', '.join(STEPS)}")
        if step == "scoped":
            raise InvalidField("step", "the scope is computed (POST .../scope), not declared")
        now = self.clock.now()
        with self.uow() as tx:
            incident = tx.incidents.incident(incident_id)
            if incident is None:
                raise NotFound()
            current = STEPS.index(incident.step)
            if incident.step == STEPS[-1]:
                raise InvalidField("step", "the incident is closed")
            expected = STEPS[current + 1]
            if step != expected:
                raise InvalidField("step", f"the incident is at '{incident.step}': the next step is '{expected}'")
            controllers = self._controllers(incident)
            if step == "controllers_informed":  # Art. 33(2): the processor's notice to each, first
                drafted = {i for i, kind, _, _ in tx.incidents.reports(incident_id) if kind == "processor_notice"}
                if missing := sorted(set(controllers) - drafted):
                    raise InvalidField("step", f"draft the processor's notice to insurer(s) {missing} first")
            if step == "people_notified" and controllers and not tx.incidents.notices(incident_id):
                raise InvalidField("step", "queue the notices first (POST .../notices)")
            if step == "cnil_notified" and controllers:
                if insurer_id is None or insurer_id not in controllers:
                    raise InvalidField("insurer_id", "the controller (an insurer in the scope) that notified the CNIL")
                done = {s.insurer_id for s in tx.incidents.steps(incident_id) if s.step == step}
                if insurer_id in done:
                    raise InvalidField("insurer_id", "this controller's notification is already recorded")
                tx.incidents.add_step(IncidentStep(0, incident_id, step, insurer_id, principal.account_id, now, note))
                if done | {insurer_id} >= set(controllers):
                    tx.incidents.set_step(incident_id, step)
            else:
                tx.incidents.add_step(IncidentStep(0, incident_id, step, insurer_id, principal.account_id, now, note))
                tx.incidents.set_step(incident_id, step)
            tx.log.append_events([self.event(principal, now, Tag.INCIDENT_STEP, incident_id, insurer_id)])
            updated = tx.incidents.incident(incident_id)
        assert updated is not None
        return updated

    # -- the 72 h clock, on the housekeeping beat ---------------------------------------------
    def remind(self) -> list[str]:
        """Alert the officers at 24, 48 and 66 h after awareness while an incident has not
        reached the controllers' CNIL notifications (Art. 33(1): 72 h); once per incident and
        hour mark, recorded among its steps. Returns the alerts raised (ids and hours only)."""
        now = self.clock.now()
        raised = []
        with self.uow() as tx:
            for incident in tx.incidents.incidents(limit=10_000):
                if STEPS.index(incident.step) >= STEPS.index("cnil_notified"):
                    continue
                done = {s.note for s in tx.incidents.steps(incident.id) if s.step == REMINDER}
                for hours in reminders_due(incident.aware_at, now, sent=False):
                    mark = f"{hours} h after awareness"
                    if mark in done:
                        continue
                    tx.incidents.add_step(IncidentStep(0, incident.id, REMINDER, None, 0, now, mark))
                    text = (f"incident {incident.id}: {hours} h since awareness, at '{incident.step}'; the CNIL "
                            f"notifications are due by {incident.aware_at + timedelta(hours=72):%Y-%m-%d %H:%M} UTC")
                    tx.containments.add_alert(now, "high", None, text)
                    raised.append(text)
        return raised

    @staticmethod
    def _controllers(incident: Incident) -> list[int]:
        if incident.scope is None:
            return []
        return [c["insurer_id"] for c in json.loads(incident.scope)["controllers"]]
