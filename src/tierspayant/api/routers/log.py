"""The transparency log over HTTP: checkpoints, proofs and witness cosignatures are public (they
hold hashes only); event queries are for security officers and DPOs."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from tierspayant.api.auth import LOG_READERS, PUBLIC
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.api.schemas import IsoDatetime, Strict
from tierspayant.security.policy import Principal

router = APIRouter(prefix="/v1/log", tags=["transparency log"])
TEXT: Responses = {200: {"content": {"text/plain": {}}, "description": "A signed note"}}
Size = Annotated[int, Query(ge=0, le=2**53)]


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@router.get("/checkpoint", dependencies=[PUBLIC], responses={**TEXT, **NOT_FOUND})
def checkpoint(request: Request) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint), with the witnesses' cosignatures."""
    latest, cosignatures = platform(request).audit.latest()
    return Response(latest.note + "".join(cosignatures), media_type="text/plain; charset=utf-8")


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


@router.get("/proofs/inclusion", dependencies=[PUBLIC], response_model=InclusionOut, responses=NOT_FOUND)
def inclusion(request: Request, index: Size, tree_size: Size | None = None) -> InclusionOut:
    """RFC 9162 inclusion proof of event ``index`` in the checkpoint of ``tree_size`` (base64)."""
    proof = platform(request).audit.inclusion(index, tree_size)
    return InclusionOut(index=proof.index, tree_size=proof.size, leaf_hash=b64(proof.leaf_hash),
                        proof=[b64(h) for h in proof.hashes])


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str]


@router.get("/proofs/consistency", dependencies=[PUBLIC], response_model=ConsistencyOut, responses=NOT_FOUND)
def consistency(request: Request, first: Size, second: Size) -> ConsistencyOut:
    """RFC 9162 consistency proof between two checkpointed sizes (base64)."""
    return ConsistencyOut(first=first, second=second,
                          proof=[b64(h) for h in platform(request).audit.consistency(first, second)])


class CosignatureIn(Strict):
    tree_size: Annotated[int, Field(ge=1, le=2**53)]
    signature: Annotated[str, Field(min_length=10, max_length=500,
                                    description="The witness's signature line for that checkpoint")]


@router.post("/cosignatures", dependencies=[PUBLIC], status_code=204, responses=NOT_FOUND)
def cosign(body: CosignatureIn, request: Request) -> Response:
    """A witness's cosignature; accepted only when it verifies under a configured witness key."""
    platform(request).audit.add_cosignature(body.tree_size, body.signature)
    return Response(status_code=204)


class EventOut(BaseModel):
    index: int
    event: dict[str, object]


@router.get("/events", response_model=list[EventOut])
def events(request: Request, account_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
           organisation_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
           start: IsoDatetime = Query(...), end: IsoDatetime = Query(...),
           principal: Principal = LOG_READERS) -> list[EventOut]:
    """Everything one account or organisation touched in [start, end): the exposure of a
    compromised account."""
    rows = platform(request).audit.exposure(principal, account_id=account_id, organisation_id=organisation_id,
                                            start=start, end=end)
    return [EventOut(index=i, event=e.to_dict()) for i, e in rows]
