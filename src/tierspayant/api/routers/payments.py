"""Payment runs (insurer side) and remittance statements (professional side)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from tierspayant.api.auth import INSURER_SIDE, PROFESSIONAL
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.api.schemas import ObjectId, PaymentOrderOut, PaymentRunRequest, PaymentRunResponse, StatementOut
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.payments import RunSummary
from tierspayant.services.records import PaymentOrderRecord

router = APIRouter(prefix="/v1")


def _run_out(summary: RunSummary) -> PaymentRunResponse:
    return PaymentRunResponse(
        id=summary.run.id, created_at=summary.run.created_at, order_count=summary.run.order_count,
        total=str(summary.run.total),
        orders=[PaymentOrderOut(id=o.id, professional_id=o.professional_id, amount=str(o.amount),
                                end_to_end_id=o.end_to_end_id, invoice_count=len(o.statement.get("invoices", [])))
                for o in summary.orders],
    )


@router.post("/payment-runs", response_model=PaymentRunResponse, status_code=201, tags=["payments"],
             responses={**NOT_FOUND, 409: {"description": "Nothing to pay: no run created"}})
def start_payment_run(body: PaymentRunRequest, request: Request, principal: Principal = INSURER_SIDE) -> PaymentRunResponse:
    """Pay every approved, unpaid invoice of the insurer: one transfer per professional. With
    nothing to pay, no run is created (409)."""
    return _run_out(platform(request).payments.run(principal, body.amc_number, body.execution_date))


class PlannedOrderOut(BaseModel):
    professional_id: int
    amount: str
    invoice_count: int


class PreviewOut(BaseModel):
    orders: list[PlannedOrderOut]
    total: str


@router.post("/payment-runs/preview", response_model=PreviewOut, tags=["payments"], responses=NOT_FOUND)
def preview_payment_run(body: PaymentRunRequest, request: Request, principal: Principal = INSURER_SIDE) -> PreviewOut:
    """What a run would pay now, one order per professional; nothing is created."""
    preview = platform(request).payments.preview(principal, body.amc_number)
    return PreviewOut(orders=[PlannedOrderOut(professional_id=o.professional_id, amount=str(o.amount),
                                              invoice_count=len(o.invoices)) for o in preview.orders],
                      total=str(preview.total))


@router.get("/payment-runs/{run_id}", response_model=PaymentRunResponse, tags=["payments"], responses=NOT_FOUND)
def get_payment_run(run_id: ObjectId, request: Request, principal: Principal = INSURER_SIDE) -> PaymentRunResponse:
    return _run_out(platform(request).payments.get_run(principal, run_id))


SEPA_FILE: Responses = {200: {"content": {"application/xml": {}}, "description": "SEPA pain.001.001.03"}}


@router.get("/payment-runs/{run_id}/sepa", tags=["payments"], responses={**SEPA_FILE, **NOT_FOUND})
def get_payment_file(run_id: ObjectId, request: Request, principal: Principal = INSURER_SIDE) -> Response:
    summary = platform(request).payments.get_run(principal, run_id)
    if summary.run.sepa_xml is None:
        raise NotFound()
    return Response(summary.run.sepa_xml, media_type="application/xml")


def _statement_out(order: PaymentOrderRecord) -> StatementOut:
    return StatementOut(id=order.id, run_id=order.run_id, amount=str(order.amount),
                        end_to_end_id=order.end_to_end_id, statement=dict(order.statement))


@router.get("/payment-statements", response_model=list[StatementOut], tags=["payments"])
def list_statements(request: Request, principal: Principal = PROFESSIONAL) -> list[StatementOut]:
    """The professional's remittance statements, newest first."""
    return [_statement_out(o) for o in platform(request).payments.statements(principal)]


@router.get("/payment-statements/{order_id}", response_model=StatementOut, tags=["payments"], responses=NOT_FOUND)
def get_statement(order_id: ObjectId, request: Request, principal: Principal = PROFESSIONAL) -> StatementOut:
    return _statement_out(platform(request).payments.statement(principal, order_id))
