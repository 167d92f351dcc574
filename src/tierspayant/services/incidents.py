"""Breach response (docs/THREATS.md, "Breach response"; GDPR Art. 33 and 34): a security officer
or the DPO opens an incident -- what is compromised, the window, when the operator became aware
-- and takes it through steps that cannot be skipped, each by a named account and on the
transparency log. The scope (breach/scope.py) is computed from the log's events of the
compromised principals and from the store's sealed rows, proved against a signed checkpoint
that covers the window."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from tierspayant.audit.events import AccessEvent, Category, Tag
from tierspayant.breach import notices as notice_texts
from tierspayant.breach.lint import lint
from tierspayant.breach.report import ReportFacts, art33, processor_notice
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
    HasCheckpoints,
    HasIncidents,
    HasKeys,
    HasLog,
    HasProfessionals,
    HasReference,
    HasSessions,
    UnitOfWork,
)
from tierspayant.services.records import Incident, IncidentStep, StoredEvent


class IncidentStore(HasIncidents, HasLog, HasCheckpoints, HasAccounts, HasSessions, HasKeys, HasReference,
                    HasProfessionals, Protocol):
    """The ports this use case works with (services/ports/)."""


#: The steps, in the only order allowed. "cnil_notified" is each controller's own: the incident
#: reaches it when every insurer in the scope has recorded its notification.
STEPS = ("opened", "scoped", "controllers_informed", "cnil_notified", "people_notified", "closed")
HANDLERS = (Role.SECURITY_OFFICER, Role.DPO)
#: Tables an incident may declare dumped: those that hold people's data (breach/scope.py), and
#: the log itself (its entries hold pseudonyms, never an identity).
DUMPABLE = (*TABLE_CATEGORIES, "audit_events")
SUMMARY_MAX = 4000
REPORT_KINDS = ("processor_notice", "art33")


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


def _require_handler(principal: Principal) -> None:
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
        _require_handler(principal)
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
            tx.log.append_events([self._event(principal, now, Tag.INCIDENT_OPEN, incident_id)])
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

    def _event(self, principal: Principal, at: datetime, tag: Tag, incident_id: int,
               insurer_id: int | None = None) -> AccessEvent:
        return self.recorder.event(principal, at, tag, categories=(Category.IDENTITY,),
                                   purpose="breach response", insurer_id=insurer_id, ref=f"incident:{incident_id}")

    # -- reading ---------------------------------------------------------------------------
    def get(self, principal: Principal, incident_id: int) -> tuple[Incident, list[IncidentStep]]:
        _require_handler(principal)
        with self.uow(readonly=True) as tx:
            incident = tx.incidents.incident(incident_id)
            if incident is None:
                raise NotFound()
            return incident, tx.incidents.steps(incident_id)

    def all(self, principal: Principal) -> list[Incident]:
        _require_handler(principal)
        with self.uow(readonly=True) as tx:
            return tx.incidents.incidents()

    # -- the scope -------------------------------------------------------------------------
    def compute_scope(self, principal: Principal, incident_id: int) -> Scope:
        """The exact scope, proved against a signed checkpoint that covers the window (one is
        signed now if the window's last events are not yet covered). Allowed until the
        controllers are informed; computing again replaces it (new evidence, a longer window)."""
        _require_handler(principal)
        incident, _ = self.get(principal, incident_id)
        if STEPS.index(incident.step) > STEPS.index("scoped"):
            raise InvalidField("step", "the controllers were informed on this scope: open a new incident")
        with self.uow(readonly=True) as tx:
            leaves = tx.log.window_leaves(incident.window_start, incident.window_end)
            latest = tx.checkpoints.latest_checkpoint()
        if leaves is not None and (latest is None or latest.size <= leaves[1]):
            latest = self.audit.checkpoint()
        scope = self.scope_of(incident, leaves, latest.size if latest else 0)
        now = self.clock.now()
        with self.uow() as tx:
            current = tx.incidents.incident(incident_id)
            assert current is not None
            if current.step != incident.step:
                raise InvalidField("step", "the incident moved on meanwhile; read it again")
            digest = content_digest(scope.canonical())
            tx.incidents.save_scope(incident_id, scope.canonical().decode(), digest, scope.checkpoint_size)
            if incident.step == "opened":
                tx.incidents.set_step(incident_id, "scoped")
            tx.incidents.add_step(IncidentStep(
                0, incident_id, "scoped", None, principal.account_id, now,
                f"{scope.people()} people, {len(scope.controllers)} controller(s), digest {digest[:16]}"))
            tx.log.append_events([self._event(principal, now, Tag.INCIDENT_SCOPE, incident_id)])
        return scope

    def scope_of(self, incident: Incident, leaves: tuple[int, int] | None, checkpoint_size: int) -> Scope:
        """Compute the scope from the store: the compromised principals' events of the window
        (by account and organisation: indexed), and the sealed rows of compromised keys or
        dumped tables."""
        compromised = Compromised.from_dict(incident.compromised)
        scope = Scope(incident.window_start, incident.window_end, compromised, checkpoint_size=checkpoint_size)
        if leaves is not None:
            scope.first_leaf, scope.last_leaf = leaves
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
            for account_id in sorted(accounts):
                scope.add_events(self._decoded(tx.log.events_of_actor(
                    account_id=account_id, organisation_id=None, start=incident.window_start,
                    end=incident.window_end), seen))
            for organisation_id in sorted(compromised.organisations):
                scope.add_events(self._decoded(tx.log.events_of_actor(
                    account_id=None, organisation_id=organisation_id, start=incident.window_start,
                    end=incident.window_end), seen))
            tables = set(compromised.tables)
            if compromised.kek or compromised.key_versions:
                tables |= set(TABLE_CATEGORIES)  # every table a key seals
            owners: Sequence[int] | None = None
            if not compromised.kek and not compromised.tables:
                owners = sorted({owner for owner, _ in compromised.key_versions})
            rows = tx.keys.sealed_people(sorted(tables & set(TABLE_CATEGORIES)), owners) if tables else iter(())
            scope.add_sealed((owner, self.recorder.pseudonym(owner, beneficiary), table, row_id, version)
                             for owner, beneficiary, table, row_id, version in rows)
        return scope

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

    # -- steps -----------------------------------------------------------------------------
    def advance(self, principal: Principal, incident_id: int, step: str, note: str = "",
                insurer_id: int | None = None) -> Incident:
        """Take the next step, by this account: none can be skipped, none taken twice.
        "cnil_notified" is recorded per controller (``insurer_id``, an insurer in the scope);
        the incident reaches it with the last one."""
        _require_handler(principal)
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
            tx.log.append_events([self._event(principal, now, Tag.INCIDENT_STEP, incident_id, insurer_id)])
            updated = tx.incidents.incident(incident_id)
        assert updated is not None
        return updated

    @staticmethod
    def _controllers(incident: Incident) -> list[int]:
        if incident.scope is None:
            return []
        return [c["insurer_id"] for c in json.loads(incident.scope)["controllers"]]

    # -- reports (Art. 33) -------------------------------------------------------------------
    def report(self, principal: Principal, incident_id: int, insurer_id: int, kind: str = "art33",
               measures_taken: Sequence[str] = (), measures_proposed: Sequence[str] = ()) -> dict[str, Any]:
        """Draft the next version of a controller's report -- the processor's notice (Art.
        33(2)) or the Art. 33 notification -- from the stored scope; each is kept, versioned
        (Art. 33(4)), and on the log."""
        if kind not in REPORT_KINDS:
            raise InvalidField("kind", f"one of {', '.join(REPORT_KINDS)}")
        for name, items in (("measures_taken", measures_taken), ("measures_proposed", measures_proposed)):
            if len(items) > 20 or any(not 1 <= len(x.strip()) <= 500 for x in items):
                raise InvalidField(name, "up to 20 sentences of 1 to 500 characters")
        incident, _ = self.get(principal, incident_id)
        if incident.scope is None:
            raise InvalidField("step", "compute the scope first")
        controllers = {c["insurer_id"]: c for c in json.loads(incident.scope)["controllers"]}
        if insurer_id not in controllers:
            raise InvalidField("insurer_id", "not a controller in this incident's scope")
        now = self.clock.now()
        with self.uow() as tx:
            insurer = tx.reference.insurer(insurer_id)
            assert insurer is not None
            taken = tuple(measures_taken) or self._measures(incident)
            facts = ReportFacts(incident.id, insurer_id, insurer.name, insurer.dpo_contact, incident.summary,
                                incident.aware_at, incident.window_start, incident.window_end, incident.compromised,
                                controllers[insurer_id], taken, tuple(measures_proposed), now)
            body = processor_notice(facts) if kind == "processor_notice" else art33(facts)
            body["scope_digest"] = incident.scope_digest
            version = tx.incidents.add_report(incident_id, insurer_id, kind, body, principal.account_id, now)
            tx.log.append_events([self._event(principal, now, Tag.INCIDENT_REPORT, incident_id, insurer_id)])
        return {**body, "version": version, "phase": "initial" if version == 1 else "complementary"}

    def latest_report(self, principal: Principal, incident_id: int, insurer_id: int, kind: str) -> dict[str, Any]:
        """The latest version of a controller's report of ``kind``; NotFound if none drafted."""
        _require_handler(principal)
        with self.uow(readonly=True) as tx:
            found = [body for i, k, _, body in tx.incidents.reports(incident_id, insurer_id) if k == kind]
        if not found:
            raise NotFound()
        return found[-1]

    @staticmethod
    def _measures(incident: Incident) -> tuple[str, ...]:
        """What was done, as the record shows it (containments are the officers' and
        detection's; the incident names what it covered)."""
        c = Compromised.from_dict(incident.compromised)
        out = []
        if c.principals():
            out.append("Les comptes et sessions concernés ont été suspendus ; toute nouvelle connexion exige une "
                       "clé d'accès (passkey) du professionnel.")
        if c.kek or c.key_versions:
            out.append("Les clés de chiffrement concernées ont été remplacées et les données rechiffrées.")
        if c.tables:
            out.append("Les accès à la base de données ont été révoqués et les copies recherchées.")
        out.append("L'incident a été enregistré dans le journal de transparence, dont chaque consultation est "
                   "prouvée.")
        return tuple(out)

    # -- notices (Art. 34) -------------------------------------------------------------------
    def queue_notices(self, principal: Principal, incident_id: int,
                      channels: Sequence[str] = notice_texts.CHANNELS) -> dict[str, Any]:
        """One notice per person to notify (all but those exposed as ciphertext only) and
        channel, each linted; those that pass are queued (idempotent), those that fail never
        are and are counted. Allowed once every controller's CNIL notification is recorded."""
        for n, channel in enumerate(channels):
            if channel not in notice_texts.CHANNELS:
                raise InvalidField(f"channels[{n}]", f"one of {', '.join(notice_texts.CHANNELS)}")
        incident, _ = self.get(principal, incident_id)
        if STEPS.index(incident.step) < STEPS.index("cnil_notified"):
            raise InvalidField("step", "the controllers' CNIL notifications come first")
        assert incident.scope is not None
        now = self.clock.now()
        rows: list[tuple[int, int, str, str, str]] = []
        failed = 0
        measures = self._measures(incident)
        with self.uow(readonly=True) as tx:
            insurers = {c["insurer_id"]: tx.reference.insurer(c["insurer_id"])
                        for c in json.loads(incident.scope)["controllers"]}
        for controller in json.loads(incident.scope)["controllers"]:
            insurer = insurers[controller["insurer_id"]]
            assert insurer is not None
            if not insurer.phone:
                raise InvalidField("insurer_id", f"insurer {insurer.id} has no telephone number on record: "
                                                 "a notice gives only that one")
            for exposure in controller["exposures"]:
                if exposure["via"] == ["dump"]:
                    continue  # ciphertext only: Art. 34(3)(a)
                texts = notice_texts.render(notice_texts.facts_from(exposure, insurer.name, insurer.phone, measures))
                for channel in channels:
                    if lint(texts[channel], insurer.phone):
                        failed += 1  # never queued
                        continue
                    rows.append((incident_id, insurer.id, exposure["person"], channel, texts[channel]))
        with self.uow() as tx:
            queued = tx.incidents.add_notices(rows, now)
            tx.log.append_events([self._event(principal, now, Tag.INCIDENT_NOTICES, incident_id)])
            counts = tx.incidents.notices(incident_id)
        return {"queued": queued, "failed_lint": failed, "by_channel": counts}
