"""A professional's bank details: change with a fresh passkey assertion, effective after a
delay, announced at once; cancellable meanwhile (docs/THREATS.md T7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from tierspayant.api.auth import PROFESSIONAL, PROFESSIONAL_DATA
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import ObjectId, Strict
from tierspayant.security.policy import Principal
from tierspayant.services.records import BankChange

router = APIRouter(prefix="/v1/bank-details", tags=["bank details"])


class ChangeIn(Strict):
    iban: Annotated[str, Field(min_length=1, max_length=42)]
    bic: Annotated[str, Field(min_length=1, max_length=11)]
    credential: dict[str, Any] = Field(description="A fresh passkey assertion (step-up), from "
                                                   "POST /v1/passkeys/authentication/options + navigator.credentials.get")


class ChangeOut(BaseModel):
    id: int
    iban_last4: str
    requested_at: datetime
    effective_at: datetime
    cancelled: bool
    applied: bool


def _out(change: BankChange) -> ChangeOut:
    return ChangeOut(id=change.id, iban_last4=change.iban[-4:], requested_at=change.requested_at,
                     effective_at=change.effective_at, cancelled=change.cancelled, applied=change.applied)


@router.post("/changes", response_model=ChangeOut, status_code=201,
             responses={401: {"description": "The step-up assertion was refused"}})
def request_change(body: ChangeIn, request: Request, principal: Principal = PROFESSIONAL_DATA) -> ChangeOut:
    """Ask for new bank details: needs a passkey session AND a fresh assertion; takes effect
    after TIERS_BANK_CHANGE_DELAY_HOURS (72 h); a notice goes to the registered channel."""
    return _out(platform(request).bank_details.request_change(principal, body.iban, body.bic, body.credential))


@router.get("/changes", response_model=list[ChangeOut])
def list_changes(request: Request, principal: Principal = PROFESSIONAL) -> list[ChangeOut]:
    return [_out(c) for c in platform(request).bank_details.changes(principal)]


@router.delete("/changes/{change_id}", status_code=204, responses=NOT_FOUND)
def cancel_change(change_id: ObjectId, request: Request, principal: Principal = PROFESSIONAL) -> Response:
    """Cancel a pending change (any session of the professional: cancelling only protects)."""
    platform(request).bank_details.cancel(principal, change_id)
    return Response(status_code=204)
