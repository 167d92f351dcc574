"""Breach response's documents (GDPR Art. 33 and 34): each controller's versioned reports --
the processor's notice (Art. 33(2)) and the Art. 33 notification -- and the Art. 34 notices, all
from the incident's stored scope, never from numbers typed by hand (breach/report.py,
breach/notices.py, breach/lint.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tierspayant.audit.events import Tag
from tierspayant.breach import notices as notice_texts
from tierspayant.breach.lint import lint
from tierspayant.breach.report import ReportFacts, art33, processor_notice
from tierspayant.breach.scope import Compromised
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.announcements import announce_notices, announce_processor_notice
from tierspayant.services.common import UseCase
from tierspayant.services.incidents import STEPS, IncidentService, IncidentStore, require_handler
from tierspayant.services.records import Incident

REPORT_KINDS = ("processor_notice", "art33")


class IncidentReportsService(UseCase[IncidentStore]):
    def __init__(self, incidents: IncidentService) -> None:
        super().__init__(incidents.uow, incidents.clock, incidents.recorder)
        self.incidents = incidents

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
        incident, _ = self.incidents.get(principal, incident_id)
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
            if kind == "processor_notice":  # sent to the controller with it (services/announcements.py)
                announce_processor_notice(tx, incident_id, insurer_id, version, body, now)
            tx.log.append_events([self.incidents.event(principal, now, Tag.INCIDENT_REPORT, incident_id, insurer_id)])
        return {**body, "version": version, "phase": "initial" if version == 1 else "complementary"}

    def latest_report(self, principal: Principal, incident_id: int, insurer_id: int, kind: str) -> dict[str, Any]:
        """The latest version of a controller's report of ``kind``; NotFound if none drafted."""
        require_handler(principal)
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
        incident, _ = self.incidents.get(principal, incident_id)
        if STEPS.index(incident.step) < STEPS.index("cnil_notified"):
            raise InvalidField("step", "the controllers' CNIL notifications come first")
        assert incident.scope is not None
        now = self.clock.now()
        rows: list[tuple[int, int, str, str, str]] = []
        per_controller: dict[int, dict[str, int]] = {}
        failed = 0
        measures = self._measures(incident)
        controllers = json.loads(incident.scope)["controllers"]
        with self.uow(readonly=True) as tx:
            insurers = {c["insurer_id"]: tx.reference.insurer(c["insurer_id"]) for c in controllers}
        for controller in controllers:
            insurer = insurers[controller["insurer_id"]]
            assert insurer is not None
            if not insurer.phone:
                raise InvalidField("insurer_id", f"insurer {insurer.id} has no telephone number on record: "
                                                 "a notice gives only that one")
            verdicts: dict[str, bool] = {}  # text -> passes: people with the same facts get the same text
            for exposure in controller["exposures"]:
                if exposure["via"] == ["dump"]:
                    continue  # ciphertext only: Art. 34(3)(a)
                texts = notice_texts.render(notice_texts.facts_from(exposure, insurer.name, insurer.phone, measures))
                for channel in channels:
                    text = texts[channel]
                    passes = verdicts.get(text)
                    if passes is None:
                        passes = verdicts[text] = not lint(text, insurer.phone)
                    if not passes:
                        failed += 1  # never queued
                        continue
                    rows.append((incident_id, insurer.id, exposure["person"], channel, text))
                    counts = per_controller.setdefault(insurer.id, {})
                    counts[channel] = counts.get(channel, 0) + 1
        with self.uow() as tx:
            queued = tx.incidents.add_notices(rows, now)
            for insurer_id, by_channel in per_controller.items():  # each controller told, with them
                announce_notices(tx, incident_id, insurer_id, by_channel, now)
            tx.log.append_events([self.incidents.event(principal, now, Tag.INCIDENT_NOTICES, incident_id)])
            counts = tx.incidents.notices(incident_id)
        return {"queued": queued, "failed_lint": failed, "by_channel": counts}
