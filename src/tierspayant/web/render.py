"""Pages: Jinja2 templates (autoescaped) with French formatting -- amounts "149,94 €", dates
"02/03/2026" -- and the CSRF token every form carries (web/session.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tierspayant.web.session import CSRF_FIELD, PORTAL, csrf_token, keep_csrf

HERE = Path(__file__).parent
PARIS = ZoneInfo("Europe/Paris")
NBSP, THIN_NBSP = "\u00a0", "\u202f"


def euros(amount: Decimal | str) -> str:
    """French format: a comma for decimals, a narrow no-break space for thousands, "€" after
    a no-break space: 1 249,94 €."""
    value = Decimal(amount).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    whole, cents = f"{abs(value):.2f}".split(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{THIN_NBSP.join(groups)},{cents}{NBSP}€"


def day(value: date | datetime | str | None) -> str:
    """dd/mm/yyyy; a datetime (stored in UTC) in French time, with its hour: 01/07/2026 22:30
    UTC is shown 02/07/2026 00:30."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
environment.filters["euros"] = euros
environment.filters["day"] = day


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The rendered page, with the CSRF token its forms carry (the cookie set when new)."""
    html = environment.get_template(template).render(
        portal=PORTAL, csrf=csrf_token(request), csrf_field=CSRF_FIELD, signed_in=context.pop("signed_in", None),
        **context)
    response = HTMLResponse(html, status_code=status_code)
    keep_csrf(request, response)
    return response
