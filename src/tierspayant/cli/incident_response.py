"""``tiers incident open | show | scope | step | report | notices | verify-scope``: breach
response from the operator's shell, as a named officer (docs/THREATS.md, "Breach response"). The
same use case as /v1/incidents; ``verify-scope`` is the auditor's check, from the log and its
signed checkpoint alone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tierspayant.bootstrap import build
from tierspayant.breach.report import to_html
from tierspayant.cli.incident import OPERATOR, incident_app
from tierspayant.cli.officer import Officer, as_officer, console, fail
from tierspayant.config import Settings
from tierspayant.domain.errors import DomainError
from tierspayant.security.policy import NotFound
from tierspayant.services.incidents import IncidentRequest

Ids = Annotated[list[int] | None, typer.Option(help="Repeat for several")]


def _when(value: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{name}: an ISO 8601 date and time with its time zone (2026-03-02T10:00:00+01:00)") from None
    if at.tzinfo is None:
        raise fail(f"{name}: give the time zone (+01:00, Z)")
    return at


@incident_app.command("open")
def open_incident(
    officer: Officer,
    summary: Annotated[str, typer.Option(help="What happened (no personal data)")],
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 with time zone")],
    end: Annotated[str, typer.Option(help="Window end, ISO 8601 with time zone")],
    aware: Annotated[str, typer.Option(help="When the operator became aware (Art. 33's 72 h start here)")],
    account: Ids = None,
    session: Ids = None,
    organisation: Ids = None,
    professional: Ids = None,
    key: Annotated[list[str] | None, typer.Option(help="A data-key version: INSURER_ID:VERSION")] = None,
    kek: Annotated[bool, typer.Option(help="The key-encryption key is compromised")] = False,
    table: Annotated[list[str] | None, typer.Option(help="A dumped table")] = None,
) -> None:
    """Open an incident: what is compromised, the window, the moment of awareness."""
    try:
        keys = tuple((int(k.split(":")[0]), int(k.split(":")[1])) for k in key or ())
    except (ValueError, IndexError):
        raise fail("key: INSURER_ID:VERSION, e.g. 1:2") from None
    request = IncidentRequest(summary, _when(aware, "aware"), _when(start, "start"), _when(end, "end"),
                              tuple(account or ()), tuple(session or ()), tuple(organisation or ()),
                              tuple(professional or ()), keys, kek, tuple(table or ()))
    platform = build(Settings.from_env())
    incident = as_officer(platform, officer, "incident", lambda p: platform.incidents.open(p, request))
    deadline = incident.aware_at + timedelta(hours=72)
    console.print(f"incident {incident.id} opened; each controller must notify the CNIL by "
                  f"{deadline:%Y-%m-%d %H:%M} UTC (72 h from awareness, Art. 33(1))")


@incident_app.command("show")
def show(incident_id: int) -> None:
    """The incident, its steps (who, when) and its scope's summary."""
    platform = build(Settings.from_env())
    try:
        incident, steps = platform.incidents.get(OPERATOR, incident_id)
    except NotFound:
        raise fail("no such incident") from None
    console.print(f"incident {incident.id} -- {incident.summary}\n  window {incident.window_start:%Y-%m-%d %H:%M} "
                  f"-> {incident.window_end:%Y-%m-%d %H:%M} UTC, aware {incident.aware_at:%Y-%m-%d %H:%M} UTC, "
                  f"step [bold]{incident.step}[/bold]\n  compromised {json.dumps(incident.compromised)}")
    table = Table("step", "insurer", "by account", "at (UTC)", "note")
    for s in steps:
        table.add_row(s.step, str(s.insurer_id or ""), str(s.by_account), f"{s.at:%Y-%m-%d %H:%M:%S}", s.note)
    console.print(table)
    if incident.scope is not None:
        _print_scope(platform.incidents.scope(OPERATOR, incident_id))


def _print_scope(scope: dict[str, Any]) -> None:
    first, last = scope["leaves"]
    console.print(f"scope: leaves {first}..{last} of the log, proved against the checkpoint of size "
                  f"{scope['checkpoint_size']}; digest {scope['digest']}")
    table = Table("insurer", "people", "records", "categories", "ciphertext only", "refused", "not found")
    for c in scope["controllers"]:
        table.add_row(str(c["insurer_id"]), str(c["people"]), str(c["records"]),
                      ", ".join(f"{k} {v}" for k, v in c["categories"].items()), str(c["ciphertext_only"]),
                      str(c["refused"]), str(c["not_found"]))
    console.print(table)


@incident_app.command("scope")
def scope(incident_id: int, officer: Officer) -> None:
    """Compute the exact scope (a checkpoint is signed first if the window is not yet covered)."""
    platform = build(Settings.from_env())
    as_officer(platform, officer, "incident", lambda p: platform.incidents.compute_scope(p, incident_id))
    _print_scope(platform.incidents.scope(OPERATOR, incident_id))


@incident_app.command("step")
def step(incident_id: int, name: Annotated[str, typer.Argument(help="controllers_informed | cnil_notified | "
                                                                     "people_notified | closed")],
         officer: Officer, note: Annotated[str, typer.Option()] = "",
         insurer: Annotated[int | None, typer.Option(help="For cnil_notified: the controller")] = None) -> None:
    """Take the next step (none can be skipped)."""
    platform = build(Settings.from_env())
    incident = as_officer(platform, officer, "incident",
                          lambda p: platform.incidents.advance(p, incident_id, name, note, insurer))
    console.print(f"incident {incident.id} is at '{incident.step}'")


@incident_app.command("report")
def report(incident_id: int, insurer: Annotated[int, typer.Option(help="The controller (insurer id)")],
           officer: Officer,
           kind: Annotated[str, typer.Option(help="art33 | processor_notice")] = "art33",
           out: Annotated[Path | None, typer.Option(help="Write it: .json, .html or .pdf")] = None,
           measure: Annotated[list[str] | None, typer.Option(help="A measure proposed (repeat)")] = None) -> None:
    """Draft the next version of a controller's report, from the scope."""
    platform = build(Settings.from_env())
    body = as_officer(platform, officer, "incident", lambda p: platform.incident_reports.report(
        p, incident_id, insurer, kind, (), tuple(measure or ())))
    n = body["nature"]
    console.print(f"{kind} v{body['version']} ({body['phase']}) for insurer {insurer}: {n['people']} people, "
                  f"{n['records']} records, categories {n['categories']}; deadline {body['deadline']} "
                  f"({body['hours_left']} h left)")
    if out is not None:
        if out.suffix == ".json":
            out.write_text(json.dumps(body, indent=2, ensure_ascii=False))
        elif out.suffix == ".html":
            out.write_text(to_html(body))
        elif out.suffix == ".pdf":
            from tierspayant.delivery.pdf import html_to_pdf

            out.write_bytes(html_to_pdf(to_html(body)))
        else:
            raise fail("out: .json, .html or .pdf")
        console.print(f"written {out}")


@incident_app.command("notices")
def notices(incident_id: int, officer: Officer) -> None:
    """Render, lint and queue the Art. 34 notices (one failing the lint is never queued)."""
    platform = build(Settings.from_env())
    done = as_officer(platform, officer, "incident", lambda p: platform.incident_reports.queue_notices(p, incident_id))
    console.print(f"{done['queued']} queued, {done['failed_lint']} refused by the lint; by channel {done['by_channel']}")


@incident_app.command("verify-scope")
def verify_scope(incident_id: int) -> None:
    """The auditor's check: recompute the scope's log part from the events table and the signed
    checkpoint alone, and compare."""
    platform = build(Settings.from_env())
    try:
        result = platform.incidents.verify_scope(OPERATOR, incident_id, on_progress=None)
    except NotFound:
        raise fail("no such incident, or no scope computed") from None
    except DomainError as exc:
        raise fail(f"{exc.field}: {exc.message}") from None
    for line in result.lines:
        console.print(line)
    if not result.ok:
        raise typer.Exit(1)
    console.print("[green]the scope agrees with the log and its signed checkpoint[/green]")
