"""Containment for security officers (docs/THREATS.md, detection and containment): list and lift
what detection did, contain a session, an account, an organisation or an insurer's route by
hand (kill switches, effective on every worker within seconds), read the alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from tierspayant.api.auth import OFFICERS
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import Strict
from tierspayant.security.policy import Principal
from tierspayant.services.records import Containment

router = APIRouter(prefix="/v1/security", tags=["detection and containment"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ContainmentOut(BaseModel):
    id: int
    scope: str
    target_id: int
    action: str
    reasons: str
    created_at: AwareDatetime
    automatic: bool
    until: AwareDatetime | None
    lifted_at: AwareDatetime | None


class ContainRequest(Strict):
    scope: Literal["session", "account", "organisation", "insurer"]
    target_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    reason: Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[\w .,:;'()/-]+$")]
    minutes: Annotated[int | None, Field(ge=1, le=60 * 24 * 30)] = None


class AlertOut(BaseModel):
    id: int
    at: AwareDatetime
    severity: str
    containment_id: int | None
    text: str


def _out(c: Containment) -> ContainmentOut:
    return ContainmentOut(id=c.id, scope=c.scope, target_id=c.target_id, action=c.action, reasons=c.reasons,
                          created_at=c.created_at, automatic=c.created_by is None, until=c.until,
                          lifted_at=c.lifted_at)


@router.get("/containments")
def containments(request: Request, principal: Annotated[Principal, OFFICERS],
                 active: Annotated[bool, Query()] = False) -> list[ContainmentOut]:
    """Newest first; ``active=true`` for those in force now."""
    return [_out(c) for c in platform(request).detection.containments(principal, active_only=active)]


@router.post("/containments", status_code=201)
def contain(request: Request, principal: Annotated[Principal, OFFICERS], body: ContainRequest) -> ContainmentOut:
    """A kill switch: in force on every worker within seconds, recorded in the transparency log."""
    return _out(platform(request).detection.contain(principal, body.scope, body.target_id, body.reason,
                                                    body.minutes))


@router.post("/containments/{containment_id}/lift", status_code=204, responses=NOT_FOUND)
def lift(request: Request, principal: Annotated[Principal, OFFICERS], containment_id: Id) -> None:
    platform(request).detection.lift(principal, containment_id)


@router.get("/alerts")
def alerts(request: Request, principal: Annotated[Principal, OFFICERS]) -> list[AlertOut]:
    return [AlertOut(id=a.id, at=a.at, severity=a.severity, containment_id=a.containment_id, text=a.text)
            for a in platform(request).detection.alerts(principal)]
