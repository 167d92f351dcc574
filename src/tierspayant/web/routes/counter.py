"""At the counter: the rights check of a patient who is there (docs/PRODUCT.md promise 2: the
answer says covered, the engagement number and its validity, nothing more). Posted, never in a
URL; the page is never cached (web/headers.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tierspayant.api.schemas import RightsCheckRequest
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import Principal
from tierspayant.services import rights
from tierspayant.web.render import page
from tierspayant.web.session import CSRF, PORTAL, STRONG, platform

router = APIRouter(prefix=PORTAL, include_in_schema=False)
FIELDS = ("amc_number", "member_number", "nir", "birth_date", "date_of_care", "category", "presence_proof")
LABELS = {"amc_number": "Numéro AMC", "member_number": "Numéro d'adhérent", "nir": "Numéro de sécurité sociale",
          "birth_date": "Date de naissance", "date_of_care": "Date des soins", "category": "Catégorie",
          "presence_proof": "Code de présence"}
CATEGORIES = (("optical", "Optique"), ("consultation", "Consultation"), ("pharmacy", "Pharmacie"))
#: What the service's refusal says, in French, without saying more than the API does: a proof
#: is needed (the day's patients without one are counted), or the one given was refused.
PRESENCE_REQUIRED = ("presence_proof", "preuve de présence nécessaire, ou refusée (expirée, déjà utilisée, ou "
                     "d'un autre patient) : demandez au patient d'afficher un nouveau code")


def _counter(request: Request, principal: Principal, form: dict[str, str], status_code: int = 200,
             answer: Any = None, errors: list[tuple[str, str]] | None = None) -> HTMLResponse:
    left = platform(request).rights.proofless_left(principal)
    return page(request, "counter.html", status_code=status_code, signed_in=True, form=form, answer=answer,
                errors=errors or [], labels=LABELS, categories=CATEGORIES, left=left)


def _blank(request: Request) -> dict[str, str]:
    today = platform(request).clock.now().date().isoformat()
    return {name: "" for name in FIELDS} | {"date_of_care": today, "category": "optical"}


@router.get("/comptoir", response_class=HTMLResponse)
def counter_page(request: Request, principal: Principal = STRONG) -> HTMLResponse:
    return _counter(request, principal, _blank(request))


def _french(message: str) -> str:
    return {"Field required": "obligatoire"}.get(message, message)


@router.post("/comptoir", dependencies=[CSRF], response_class=HTMLResponse)
async def check_rights(request: Request, principal: Principal = STRONG) -> HTMLResponse:
    raw = await request.form()
    form = {name: str(raw.get(name, "")).strip() for name in FIELDS}
    given = {k: v for k, v in form.items() if v != ""}
    try:
        body = RightsCheckRequest.model_validate(given)
    except ValidationError as invalid:
        errors = [(str(e["loc"][0]) if e["loc"] else "formulaire", _french(e["msg"])) for e in invalid.errors()]
        return _counter(request, principal, form, 422, errors=errors)
    try:
        answer = await platform(request).rights.check(principal, rights.RightsRequest(
            body.amc_number, body.member_number, body.nir, body.birth_date, body.date_of_care, body.category,
            body.presence_proof))
    except InvalidField as bad:
        return _counter(request, principal, form, 422, errors=[(bad.field, bad.message)])
    except rights.PresenceRequired:
        return _counter(request, principal, form, 403, errors=[PRESENCE_REQUIRED])
    # The patient's identifiers are not shown back once answered: the next patient starts blank.
    return _counter(request, principal, _blank(request), answer=answer)
