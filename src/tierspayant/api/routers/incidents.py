"""Breach response (docs/THREATS.md, "Breach response"): open an incident, compute its exact
scope, take its steps in order. Security officers and the DPO, with a phishing-resistant
sign-in. The scope's summary holds counts and categories only: the people themselves go to each
controller through its encrypted export."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from tierspayant.api.auth import INCIDENT_HANDLERS
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import Strict
from tierspayant.breach.report import to_html
from tierspayant.delivery.pdf import html_to_pdf
from tierspayant.security.policy import Principal
from tierspayant.services.incidents import IncidentRequest
from tierspayant.services.records import Incident, IncidentExport, IncidentStep

router = APIRouter(prefix="/v1/incidents", tags=["breach response"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ids = Annotated[tuple[Annotated[int, Field(ge=1, le=2**31 - 1)], ...], Field(max_length=10_000)]


class KeyVersion(Strict):
    insurer_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    version: Annotated[int, Field(ge=1, le=10_000)]


class OpenRequest(Strict):
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    aware_at: AwareDatetime
    window_start: AwareDatetime
    window_end: AwareDatetime
    accounts: Ids = ()
    sessions: Ids = ()
    organisations: Ids = ()
    professionals: Ids = ()
    key_versions: Annotated[tuple[KeyVersion, ...], Field(max_length=1000)] = ()
    kek: bool = False
    tables: Annotated[tuple[Annotated[str, Field(max_length=40)], ...], Field(max_length=50)] = ()


class StepRequest(Strict):
    #: "opened" and "scoped" are never declared (services/incidents.py STEPS): the service says
    #: which step comes next when another is asked.
    step: Annotated[str, Field(max_length=30)]
    note: Annotated[str, Field(max_length=2000)] = ""
    insurer_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None


class StepOut(BaseModel):
    step: str
    insurer_id: int | None
    by_account: int
    at: AwareDatetime
    note: str


class IncidentOut(BaseModel):
    id: int
    opened_at: AwareDatetime
    opened_by: int
    aware_at: AwareDatetime
    notify_cnil_by: AwareDatetime  # Art. 33(1): 72 hours from awareness
    window_start: AwareDatetime
    window_end: AwareDatetime
    summary: str
    compromised: dict[str, Any]
    step: str
    scope_digest: str | None
    scope_checkpoint: int | None
    steps: tuple[StepOut, ...] = ()


def _out(incident: Incident, steps: list[IncidentStep] | None = None) -> IncidentOut:
    return IncidentOut(
        id=incident.id, opened_at=incident.opened_at, opened_by=incident.opened_by, aware_at=incident.aware_at,
        notify_cnil_by=incident.aware_at + timedelta(hours=72), window_start=incident.window_start,
        window_end=incident.window_end, summary=incident.summary, compromised=incident.compromised,
        step=incident.step, scope_digest=incident.scope_digest, scope_checkpoint=incident.scope_checkpoint,
        steps=tuple(StepOut(step=s.step, insurer_id=s.insurer_id, by_account=s.by_account, at=s.at, note=s.note)
                    for s in steps or []))


@router.post("", status_code=201)
def open_incident(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], body: OpenRequest) -> IncidentOut:
    """What is compromised, the window, when the operator became aware (the 72 h start there)."""
    incident = platform(request).incidents.open(principal, IncidentRequest(
        body.summary, body.aware_at, body.window_start, body.window_end, body.accounts, body.sessions,
        body.organisations, body.professionals,
        tuple((k.insurer_id, k.version) for k in body.key_versions), body.kek, body.tables))
    return _out(incident)


@router.get("")
def list_incidents(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS]) -> list[IncidentOut]:
    return [_out(i) for i in platform(request).incidents.all(principal)]


@router.get("/{incident_id}", responses=NOT_FOUND)
def get_incident(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id) -> IncidentOut:
    """The incident and every step taken, by whom and when."""
    return _out(*platform(request).incidents.get(principal, incident_id))


@router.post("/{incident_id}/scope", responses=NOT_FOUND)
def compute_scope(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                  ) -> dict[str, Any]:
    """Compute the exact scope (proved against a signed checkpoint covering the window)."""
    incidents = platform(request).incidents
    incidents.compute_scope(principal, incident_id)
    return incidents.scope(principal, incident_id)


@router.get("/{incident_id}/scope", responses=NOT_FOUND)
def get_scope(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id) -> dict[str, Any]:
    """Per controller: people, records, categories, what disclosed nothing; no identity."""
    return platform(request).incidents.scope(principal, incident_id)


@router.post("/{incident_id}/steps", responses=NOT_FOUND)
def take_step(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
              body: StepRequest) -> IncidentOut:
    incidents = platform(request).incidents
    incidents.advance(principal, incident_id, body.step, body.note, body.insurer_id)
    return _out(*incidents.get(principal, incident_id))


class ReportRequest(Strict):
    insurer_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    kind: Annotated[str, Field(max_length=30)] = "art33"
    measures_taken: Annotated[tuple[Annotated[str, Field(max_length=500)], ...], Field(max_length=20)] = ()
    measures_proposed: Annotated[tuple[Annotated[str, Field(max_length=500)], ...], Field(max_length=20)] = ()


class NoticesRequest(Strict):
    channels: Annotated[tuple[Annotated[str, Field(max_length=10)], ...], Field(min_length=1, max_length=3)] = (
        "letter", "email", "sms")


@router.post("/{incident_id}/reports", status_code=201, responses=NOT_FOUND)
def draft_report(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                 body: ReportRequest) -> dict[str, Any]:
    """The next version of a controller's processor notice (Art. 33(2)) or Art. 33 notification,
    its numbers from the scope."""
    return platform(request).incident_reports.report(principal, incident_id, body.insurer_id, body.kind,
                                              body.measures_taken, body.measures_proposed)


@router.get("/{incident_id}/reports/{insurer_id}", responses={**NOT_FOUND, 200: {"content": {
    "application/json": {}, "text/html": {}, "application/pdf": {}}}})
def read_report(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                insurer_id: Id, kind: str = "art33", format: Literal["json", "html", "pdf"] = "json") -> Response:
    """The latest version, as JSON, HTML or PDF (with its chart of exposures over time)."""
    report = platform(request).incident_reports.latest_report(principal, incident_id, insurer_id, kind)
    if format == "json":
        return JSONResponse(report)
    document = to_html(report)
    if format == "html":
        return HTMLResponse(document)
    return Response(html_to_pdf(document), media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="incident-{incident_id}-{insurer_id}-{kind}.pdf"'})


@router.post("/{incident_id}/notices", responses=NOT_FOUND)
def queue_notices(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                  body: NoticesRequest) -> dict[str, Any]:
    """Render, lint and queue the Art. 34 notices: a notice the lint refuses is never queued."""
    return platform(request).incident_reports.queue_notices(principal, incident_id, body.channels)


class ExportRequest(Strict):
    insurer_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class ExportOut(BaseModel):
    id: int
    incident_id: int
    insurer_id: int
    requested_by: int
    requested_at: AwareDatetime
    approved_by: int | None
    expires_at: AwareDatetime | None
    downloaded_at: AwareDatetime | None


def _export(e: IncidentExport) -> ExportOut:
    return ExportOut(id=e.id, incident_id=e.incident_id, insurer_id=e.insurer_id, requested_by=e.requested_by,
                     requested_at=e.requested_at, approved_by=e.approved_by, expires_at=e.expires_at,
                     downloaded_at=e.downloaded_at)


@router.post("/{incident_id}/exports", status_code=201, responses=NOT_FOUND)
def request_export(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                   body: ExportRequest) -> ExportOut:
    """Ask for a controller's list of its people (sealed to its public key): a second officer approves."""
    return _export(platform(request).incident_exports.request(principal, incident_id, body.insurer_id))


@router.post("/{incident_id}/exports/{export_id}/approve", responses=NOT_FOUND)
def approve_export(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                   export_id: Id) -> ExportOut:
    """Dual control: another officer than the one who asked. The file is built and sealed now."""
    return _export(platform(request).incident_exports.approve(principal, export_id))


@router.get("/{incident_id}/exports/{export_id}/file", responses=NOT_FOUND)
def download_export(request: Request, principal: Annotated[Principal, INCIDENT_HANDLERS], incident_id: Id,
                    export_id: Id) -> Response:
    """The sealed file, once, before it expires (only the insurer's private key opens it)."""
    sealed = platform(request).incident_exports.download(principal, export_id)
    return Response(sealed, media_type="application/octet-stream", headers={
        "content-disposition": f'attachment; filename="incident-{incident_id}-export-{export_id}.tpx"',
        "cache-control": "no-store"})
