"""The GDPR Art. 33 notification for one controller, and the processor's notice that comes first
(Art. 33(2)), built from the scope -- never a number typed by hand
(docs/THREATS.md, "Breach response").

Art. 33(3) asks, and ``art33`` answers under these keys:
(a) ``nature``: what happened, the categories and numbers of people and of records concerned;
(b) ``dpo``: the name and contact of the data protection officer;
(c) ``consequences``: the likely consequences;
(d) ``measures``: the measures taken and proposed, mitigation included.
Art. 33(1): within 72 hours of awareness (``deadline``); reminders at 24, 48 and 66 hours while
not sent. Art. 33(4): information may be given in phases -- each report is a version, the first
initial, the next complementary.

Pure: facts in, a JSON-ready dict and HTML (with an SVG chart of exposures over time) out."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
DEADLINE = timedelta(hours=72)
REMINDERS = (24, 48, 66)  # hours after awareness

#: Likely consequences per data category (Art. 33(3)(c)), in plain French: what a fraudster
#: does with each (the 2024 breaches: targeted phishing, identity fraud).
CONSEQUENCES = {
    "identity": "Hameçonnage ciblé et usurpation d'identité : les messages frauduleux citant le nom, la date "
                "de naissance ou le numéro de sécurité sociale sont plus crédibles.",
    "coverage": "Hameçonnage ciblé se prévalant de la complémentaire santé et de ses garanties (faux "
                "remboursements, fausses mises à jour de contrat).",
    "health": "Atteinte au secret des informations de santé (actes, équipements optiques, montants).",
    "payment": "Connaissance des soins facturés et de leurs montants ; faux messages de remboursement.",
    "bank": "Tentatives de fraude au virement ou de détournement de paiements.",
}
CATEGORY_NAMES = {"identity": "identité", "coverage": "droits et garanties", "health": "santé",
                  "payment": "paiements", "bank": "coordonnées bancaires"}
CIPHERTEXT_ONLY = ("Données chiffrées (AES-256-GCM) dont les clés n'ont pas été compromises : inintelligibles "
                   "pour qui les détient ; la notification individuelle n'est pas requise (art. 34(3)(a)).")


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What a report is made of: the incident, one controller's scope summary, the measures."""

    incident_id: int
    insurer_id: int
    insurer_name: str
    dpo_contact: str | None
    summary: str
    aware_at: datetime
    window_start: datetime
    window_end: datetime
    compromised: dict[str, Any]
    controller: dict[str, Any]  # breach.scope.ControllerScope.to_dict()
    measures_taken: tuple[str, ...]
    measures_proposed: tuple[str, ...]
    at: datetime
    version: int = 1


def deadline(aware_at: datetime) -> datetime:
    """Art. 33(1): without undue delay and, where feasible, not later than 72 hours."""
    return aware_at + DEADLINE


def reminders_due(aware_at: datetime, now: datetime, sent: bool) -> list[int]:
    """The reminder hours already passed while the notification is not sent."""
    if sent:
        return []
    elapsed = now - aware_at
    return [h for h in REMINDERS if elapsed >= timedelta(hours=h)]


def exposures_over_time(controller: dict[str, Any], start: datetime, end: datetime) -> list[tuple[str, int]]:
    """People by the hour (a window of up to three days) or the day (Paris) of their first
    exposure, every hour or day of the window included (zeros too: a real time axis); people
    exposed through the store only (a key, a dump) have no date and are left out of it."""
    hourly = end - start <= timedelta(days=3)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    fmt = "%d/%m %Hh" if hourly else "%d/%m"
    counts = Counter(datetime.fromisoformat(e["first"]).astimezone(PARIS).strftime(fmt)
                     for e in controller.get("exposures", ()) if e["first"])
    labels: list[str] = []
    at = start.astimezone(PARIS).replace(minute=0, second=0, microsecond=0)
    if not hourly:
        at = at.replace(hour=0)
    while at < end and len(labels) < 400:
        labels.append(at.strftime(fmt))
        at += step
    return [(label, counts.get(label, 0)) for label in dict.fromkeys(labels + sorted(counts))]


def _when(iso: str) -> str:
    """An ISO date and time as a person reads it, in Paris time."""
    return datetime.fromisoformat(iso).astimezone(PARIS).strftime("%d/%m/%Y %H:%M (heure de Paris)")


def art33(facts: ReportFacts) -> dict[str, Any]:
    c = facts.controller
    ciphertext_only = int(c.get("ciphertext_only", 0))
    left = deadline(facts.aware_at) - facts.at
    return {
        "kind": "art33", "version": facts.version, "phase": "initial" if facts.version == 1 else "complementary",
        "incident": facts.incident_id, "controller": {"id": facts.insurer_id, "name": facts.insurer_name},
        "drafted_at": facts.at.isoformat(),
        "aware_at": facts.aware_at.isoformat(), "deadline": deadline(facts.aware_at).isoformat(),
        "hours_left": round(left.total_seconds() / 3600, 1),
        "reminders_due": reminders_due(facts.aware_at, facts.at, sent=False),
        "nature": {
            "description": facts.summary,
            "window": [facts.window_start.isoformat(), facts.window_end.isoformat()],
            "compromised": facts.compromised,
            "people": int(c["people"]), "records": int(c["records"]), "categories": dict(c["categories"]),
            "ciphertext_only_people": ciphertext_only,
            "disclosed_nothing": {"refused": int(c["refused"]), "not_found": int(c["not_found"])},
        },
        "dpo": facts.dpo_contact or "(à renseigner : contact du DPO du responsable de traitement)",
        "consequences": [CONSEQUENCES[k] for k in sorted(c["categories"]) if k in CONSEQUENCES]
                        + ([CIPHERTEXT_ONLY] if ciphertext_only else []),
        "measures": {"taken": list(facts.measures_taken), "proposed": list(facts.measures_proposed)},
        "exposures_over_time": exposures_over_time(c, facts.window_start, facts.window_end),
    }


def processor_notice(facts: ReportFacts) -> dict[str, Any]:
    """Art. 33(2): the processor (the platform's operator) tells the controller without undue
    delay -- the same facts, for the controller's own notification."""
    body = art33(facts)
    body["kind"] = "processor_notice"
    body["to"] = facts.insurer_name
    return body


def _chart(days: list[tuple[str, int]]) -> str:
    """An SVG bar chart of people first exposed per day (weasyprint renders SVG)."""
    if not days:
        return "<p>Aucune exposition datée (exposition par les clés ou une copie de tables seulement).</p>"
    width, height, pad = 560, 180, 30
    top = max(1, max(n for _, n in days))
    bar = min(48.0, (width - 2 * pad) / len(days))
    every = max(1, len(days) // 12)  # at most a dozen labels on the axis
    bars = []
    for i, (day, n) in enumerate(days):
        h = (height - 2 * pad) * n / top
        x = pad + i * bar
        bars.append(f'<rect x="{x + 2:.1f}" y="{height - pad - h:.1f}" width="{max(bar - 4, 1):.1f}" '
                    f'height="{h:.1f}" fill="#345"/>'
                    + (f'<text x="{x + bar / 2:.1f}" y="{height - pad + 14}" font-size="8" text-anchor="middle">'
                       f'{html.escape(day)}</text>' if i % every == 0 else "")
                    + (f'<text x="{x + bar / 2:.1f}" y="{height - pad - h - 3:.1f}" font-size="9" '
                       f'text-anchor="middle">{n}</text>' if n else ""))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="personnes exposées par jour">{"".join(bars)}</svg>')


def to_html(report: dict[str, Any]) -> str:
    """The report as a document a person reads (and weasyprint prints)."""
    e = html.escape
    n = report["nature"]
    title = ("Notification d'un manquement à la sécurité des données (art. 33 RGPD)" if report["kind"] == "art33"
             else "Notification du sous-traitant au responsable de traitement (art. 33(2) RGPD)")
    categories = "".join(f"<li>{e(CATEGORY_NAMES.get(k, k))} : {v} personne(s)</li>" for k, v in n["categories"].items())
    consequences = "".join(f"<li>{e(x)}</li>" for x in report["consequences"])
    taken = "".join(f"<li>{e(x)}</li>" for x in report["measures"]["taken"]) or "<li>—</li>"
    proposed = "".join(f"<li>{e(x)}</li>" for x in report["measures"]["proposed"]) or "<li>—</li>"
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;font-size:11pt;margin:2em}} h1{{font-size:15pt}} h2{{font-size:12pt;
margin-top:1.2em}} table{{border-collapse:collapse}} td{{padding:2px 8px;border-bottom:1px solid #ccc}}</style>
</head><body><h1>{e(title)}</h1>
<table><tr><td>Incident</td><td>{report['incident']}</td></tr>
<tr><td>Responsable de traitement</td><td>{e(report['controller']['name'])}</td></tr>
<tr><td>Version</td><td>{report['version']} ({e(report['phase'])})</td></tr>
<tr><td>Connaissance de la violation</td><td>{e(_when(report['aware_at']))}</td></tr>
<tr><td>Échéance (72 h)</td><td>{e(_when(report['deadline']))} — reste {report['hours_left']} h</td></tr></table>
<h2>a) Nature de la violation</h2><p>{e(n['description'])}</p>
<p>Période : du {e(_when(n['window'][0]))} au {e(_when(n['window'][1]))}</p>
<p><strong>{n['people']}</strong> personne(s) concernée(s), <strong>{n['records']}</strong>
enregistrement(s) ; dont {n['ciphertext_only_people']} exposée(s) sous forme chiffrée seulement.
Sans divulgation : {n['disclosed_nothing']['refused']} consultation(s) refusée(s),
{n['disclosed_nothing']['not_found']} sans correspondance.</p><ul>{categories}</ul>
<p>Personnes exposées, par {"heure" if len(report['exposures_over_time']) and "h" in report['exposures_over_time'][0][0] else "jour"} de première exposition (heure de Paris) :</p>
{_chart([(str(d), int(k)) for d, k in report['exposures_over_time']])}
<h2>b) Délégué à la protection des données</h2><p>{e(report['dpo'])}</p>
<h2>c) Conséquences probables</h2><ul>{consequences}</ul>
<h2>d) Mesures prises et proposées</h2><p>Prises :</p><ul>{taken}</ul><p>Proposées :</p><ul>{proposed}</ul>
</body></html>"""
