"""The optician's quote, pre-authorisation (PEC) and invoice: a frame and two lenses, the
100% Santé (class A) offer shown beside any class B equipment (arrêté of 3 December 2018 on
the optician's standard quote: a class A offer is always presented), the split of each line,
then the invoice of a PEC, its amounts taken from the PEC itself."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tierspayant.api.care_schemas import Line
from tierspayant.domain.calculation import QuoteLine
from tierspayant.domain.errors import DomainError
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services import calculation, claims
from tierspayant.services.ports import Conflict
from tierspayant.web.render import page
from tierspayant.web.session import CSRF, PORTAL, STRONG, platform

router = APIRouter(prefix=PORTAL, include_in_schema=False)
#: The form's three lines: (name, label, kind).
PARTS = (("frame", "Monture", ItemKind.FRAME), ("right", "Verre droit", ItemKind.LENS),
         ("left", "Verre gauche", ItemKind.LENS))
LINE_FIELDS = ("code", "price", "lens_type", "sph", "cyl")
LENS_TYPES = (("unifocal", "Unifocal"), ("multifocal", "Multifocal"), ("progressive", "Progressif"))


def _codes(request: Request) -> dict[str, list[ReferenceCode]]:
    at = platform(request).clock.now().date()
    rows = platform(request).reference.codes_of((ItemKind.FRAME, ItemKind.LENS), at)
    return {"frame": [r for r in rows if r.kind is ItemKind.FRAME], "lens": [r for r in rows if r.kind is ItemKind.LENS]}


def _class_a_offer(codes: dict[str, list[ReferenceCode]]) -> list[ReferenceCode]:
    """The 100% Santé equipment the optician presents beside any other (nothing left to pay)."""
    return [r for rows in codes.values() for r in rows if r.optical_class is OpticalClass.A and r.age_below is None]


def _quote_page(request: Request, form: dict[str, str], status_code: int = 200, **context: Any) -> HTMLResponse:
    codes = _codes(request)
    for name, default in (("errors", []), ("quote", None), ("result", None)):
        context.setdefault(name, default)
    return page(request, "quote.html", status_code=status_code, signed_in=True, form=form, codes=codes,
                class_a=_class_a_offer(codes), parts=PARTS, lens_types=LENS_TYPES, **context)


def _form(raw: Any) -> dict[str, str]:
    names = ["engagement_number", "kind", "invoice_number"] + [f"{p}_{f}" for p, _, _ in PARTS for f in LINE_FIELDS]
    return {name: str(raw.get(name, "")).strip() for name in names}


def _lines(form: dict[str, str]) -> tuple[list[QuoteLine], list[tuple[str, str]]]:
    """The form's lines, validated as the API validates them; errors name the form's fields."""
    lines, errors = [], []
    for part, _, kind in PARTS:
        given = {f: form[f"{part}_{f}"] for f in LINE_FIELDS if form.get(f"{part}_{f}")}
        if kind is ItemKind.FRAME:
            given = {k: v for k, v in given.items() if k in ("code", "price")}
        try:
            line = Line.model_validate(given)
        except ValidationError as invalid:
            errors += [(f"{part}_{e['loc'][0]}" if e["loc"] else part, e["msg"]) for e in invalid.errors()]
            continue
        lines.append(QuoteLine(line.code, line.price, line.quantity, line.lens_type, line.sph, line.cyl))
    return lines, errors


def _field(error: DomainError) -> str:
    """``lines[1].sph`` -> ``right_sph``: the form's name for the API's field."""
    if error.field.startswith("lines["):
        index, _, rest = error.field[len("lines["):].partition("]")
        if index.isdigit() and int(index) < len(PARTS):
            return f"{PARTS[int(index)][0]}_{rest.lstrip('.') or 'code'}"
    return error.field


@router.get("/devis", response_class=HTMLResponse)
def quote_page(request: Request, principal: Principal = STRONG) -> HTMLResponse:
    return _quote_page(request, _form({"kind": "pec", "right_lens_type": "unifocal", "left_lens_type": "unifocal"}))


@router.post("/devis", dependencies=[CSRF], response_class=HTMLResponse)
async def make_quote(request: Request, principal: Principal = STRONG) -> HTMLResponse:
    raw = await request.form()
    form = _form(raw)
    if raw.get("start"):  # from the counter's answer: the engagement, the rest to fill in
        return _quote_page(request, _form({"engagement_number": form["engagement_number"], "kind": "pec",
                                           "right_lens_type": "unifocal", "left_lens_type": "unifocal"}))
    lines, errors = _lines(form)
    if form["kind"] not in ("simulation", "pec"):
        errors.append(("kind", "simulation ou prise en charge"))
    if errors:
        return _quote_page(request, form, 422, errors=errors)
    try:
        quote = platform(request).calculation.quote(principal, calculation.QuoteRequest(
            form["engagement_number"], form["kind"], tuple(lines)))
    except DomainError as refused:
        return _quote_page(request, form, 422, errors=[(_field(refused), refused.message)])
    except NotFound:
        return _quote_page(request, form, 404, errors=[("engagement_number", "engagement inconnu")])
    return _quote_page(request, form, 201, quote=quote, result=quote.result)


@router.post("/factures", dependencies=[CSRF], response_class=HTMLResponse)
async def invoice_pec(request: Request, principal: Principal = STRONG) -> HTMLResponse:
    """Invoice a PEC: the lines as quoted, each claiming the AMC share the PEC computed."""
    raw = await request.form()
    form = _form(raw)
    pec_number = str(raw.get("pec_number", ""))
    try:
        pec = platform(request).calculation.get(principal, pec_number)
    except NotFound:
        return _quote_page(request, form, 404, errors=[("pec_number", "prise en charge inconnue")])
    lines, errors = _lines(form)
    if not form["invoice_number"]:
        errors.append(("invoice_number", "obligatoire"))
    if errors:
        return _quote_page(request, form, 422, errors=errors, quote=pec, result=pec.result)
    claimed = [Decimal(line["amc"]) for line in pec.result["lines"]]
    if [line.code for line in lines] != list(pec.result["codes"]):
        return _quote_page(request, form, 422, errors=[("pec_number", "les lignes diffèrent de la prise en charge")],
                           quote=pec, result=pec.result)
    try:
        sent = platform(request).claims.submit(principal, claims.InvoiceRequest(
            invoice_number=form["invoice_number"], date_of_care=pec.date_of_care, pec_number=pec.number,
            lines=tuple(claims.InvoiceLine(line, amc) for line, amc in zip(lines, claimed, strict=True))))
    except DomainError as refused:
        return _quote_page(request, form, 422, errors=[(_field(refused), refused.message)], quote=pec,
                           result=pec.result)
    except Conflict:
        return _quote_page(request, form, 409, errors=[("invoice_number", "numéro déjà utilisé pour une autre facture")],
                           quote=pec, result=pec.result)
    return page(request, "invoice.html", status_code=201, signed_in=True, invoice=sent.invoice)
