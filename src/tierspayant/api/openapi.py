"""The OpenAPI document as the API really answers (api/problems.py): every error an RFC 9457
problem (``application/problem+json``, one ``Problem`` schema), and every operation declaring
the statuses it can answer -- 401 and 403 when it needs a session, 413 and 422 when it takes a
body or parameters, 429 and 503 everywhere (the rate gate, the access log unavailable), 404 and
409 where the route says so. Swagger UI and ReDoc are served from the platform itself, their
assets from a package (fastapi-offline's copies): the documentation works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tierspayant.api.auth import policy_of
from tierspayant.api.problems import PROBLEM

ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC = "/docs-assets"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "description": "The fields at fault", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"},
                           "rule": {"type": "string"}}}},
    },
}
#: What each status means, wherever it is declared.
MEANING = {
    401: "Not signed in, or the session ended (always the same answer)",
    403: "Signed in, but this role or this session's assurance may not use it (or a presence proof is needed)",
    404: "Not found (or not yours: the same answer)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Invalid request: `errors[].field` names each field at fault",
    429: "Too many requests: slowed down (retry later)",
    503: "Unavailable for now: nothing was done, retry later",
}


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description or MEANING[status],
                           "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    return out


#: The portal's pages (web/): their policies are the portal's own (web/session.py).
PORTAL_PREFIX = "/portail"


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute of the API, those of included routers too (FastAPI >= 0.16x wraps them);
    not the portal's pages."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            if not route.path.startswith(PORTAL_PREFIX):
                out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(api_routes(route.original_router.routes))
    return out


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, built once."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    public = {(route.path, method.lower()) for route in api_routes(list(app.routes))
              for method in route.methods or () for dep in route.dependant.dependencies
              if policy_of(dep.call) == "public"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            statuses = {429, 503}
            if (path, method) not in public:
                statuses |= {401, 403}
            if "requestBody" in operation:
                statuses |= {413, 422}
            if operation.get("parameters"):
                statuses.add(422)
            for status in statuses:
                declared = responses.get(str(status), {})
                responses[str(status)] = _problem(status, declared.get("description"))
            for code, answer in list(responses.items()):
                if code.isdigit() and int(code) >= 400 and "content" not in answer:
                    responses[code] = _problem(int(code), answer.get("description"))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = PROBLEM_SCHEMA
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    """The truthful document at /openapi.json; Swagger UI at /docs and ReDoc at /redoc, offline."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="docs-assets")

    async def swagger(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{STATIC}/favicon.png")

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{STATIC}/redoc.standalone.js", redoc_favicon_url=f"{STATIC}/favicon.png",
                              with_google_fonts=False)

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
