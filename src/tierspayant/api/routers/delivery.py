"""Delivery for the operator (services/delivery.py): destinations (settings checked when given, a
webhook's signing secret answered once), pause and resume, secret rotation; the outbox's backlog
per destination, its dead letters with their reasons, a replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tierspayant.api.auth import PLATFORM_ADMINS
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import Reference, Strict
from tierspayant.security.policy import Principal
from tierspayant.services.delivery import KINDS
from tierspayant.services.ports.delivery import Channel, Destination

router = APIRouter(prefix="/v1/delivery", tags=["delivery"])
Kind = Annotated[str, Field(min_length=1, max_length=60, examples=["invoice.adjudicated"])]


class DestinationIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9._-]*$",
                               examples=["harmonie-claims"])]
    channel: Channel
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=len(KINDS),
                                       description=f"Among: {', '.join(KINDS)}")]
    config: Annotated[dict[str, Any], Field(examples=[{"url": "https://claims.example/hooks"}], description=(
        'webhook: {"url"}; file: {"directory"}; email: {"host", "port", "sender", "to"}; sms: {"url", "to"}'))]
    insurer_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    organisation_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None


class DestinationOut(BaseModel):
    id: int
    name: str
    channel: str
    kinds: list[str]
    config: dict[str, Any]
    insurer_id: int | None
    organisation_id: int | None
    paused: bool
    #: A new webhook's signing secret, in this answer only.
    secret: str | None = None


class PausedIn(Strict):
    paused: bool


class SecretOut(BaseModel):
    secret: str


class BacklogOut(BaseModel):
    destination: str
    paused: bool
    pending: int
    in_transit: int = Field(description="Handed to the transport (NATS JetStream), not yet acknowledged by the "
                                        "destination; always 0 without a transport")
    dead: int
    oldest: datetime | None = Field(description="The oldest unacknowledged message's creation")


class DeadOut(BaseModel):
    message_id: str
    kind: str
    destination_id: int
    attempts: int
    error: str | None
    created_at: datetime


def _out(d: Destination, secret: str | None = None) -> DestinationOut:
    return DestinationOut(id=d.id, name=d.name, channel=d.channel.value, kinds=list(d.kinds), config=dict(d.config),
                          insurer_id=d.insurer_id, organisation_id=d.organisation_id, paused=d.paused, secret=secret)


@router.get("/destinations", response_model=list[DestinationOut])
def destinations(request: Request, principal: Principal = PLATFORM_ADMINS) -> list[DestinationOut]:
    return [_out(d) for d in platform(request).delivery.destinations(principal)]


@router.post("/destinations", response_model=DestinationOut, status_code=201,
             responses={409: {"description": "The name is taken"}})
def add(body: DestinationIn, request: Request, principal: Principal = PLATFORM_ADMINS) -> DestinationOut:
    """Register a destination; its settings are checked now (422 naming what is wrong)."""
    made = platform(request).delivery.add(principal, Destination(
        0, body.name, body.channel, body.config, tuple(body.kinds), body.insurer_id, body.organisation_id))
    return _out(made, made.secrets[0][0] if made.secrets else None)


@router.put("/destinations/{name}/paused", response_model=DestinationOut, responses=NOT_FOUND)
def set_paused(name: Reference, body: PausedIn, request: Request, principal: Principal = PLATFORM_ADMINS,
               ) -> DestinationOut:
    """Pause (its messages wait, none is lost) or resume a destination."""
    return _out(platform(request).delivery.set_paused(principal, name, body.paused))


@router.post("/destinations/{name}/secret", response_model=SecretOut, responses=NOT_FOUND)
def rotate_secret(name: Reference, request: Request, principal: Principal = PLATFORM_ADMINS) -> SecretOut:
    """A new signing secret (answered once); the previous one keeps signing for 24 h."""
    return SecretOut(secret=platform(request).delivery.rotate_secret(principal, name))


@router.get("/status", response_model=list[BacklogOut])
def status(request: Request, principal: Principal = PLATFORM_ADMINS) -> list[BacklogOut]:
    """Per destination: pending messages, those in transit, the oldest one's creation, dead letters."""
    return [BacklogOut(destination=b.name, paused=b.paused, pending=b.pending, in_transit=b.in_transit, dead=b.dead,
                       oldest=b.oldest)
            for b in platform(request).delivery.status(principal)]


@router.get("/dead", response_model=list[DeadOut])
def dead(request: Request, principal: Principal = PLATFORM_ADMINS,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadOut]:
    return [DeadOut(message_id=m.message_id, kind=m.kind, destination_id=m.destination_id, attempts=m.attempts,
                    error=m.last_error, created_at=m.created_at) for m in platform(request).delivery.dead(principal, limit)]


@router.post("/messages/{message_id}/replay", status_code=204, responses={409: {"description": "No dead message by this id"}})
def replay(message_id: Reference, request: Request, principal: Principal = PLATFORM_ADMINS) -> None:
    """Deliver a dead message again, under the same id."""
    platform(request).delivery.replay(principal, message_id)
