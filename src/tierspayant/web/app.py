"""The application the server runs: the JSON API (api/app.py) and the portal (``/portail``) in
one process, one platform."""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierspayant.api.app import create_app as create_api
from tierspayant.bootstrap import Platform
from tierspayant.domain.errors import DomainError
from tierspayant.security.policy import NotFound
from tierspayant.services.errors import Contained, Forbidden, RateLimited
from tierspayant.web.headers import PortalHeaders
from tierspayant.web.render import HERE, page
from tierspayant.web.routes import account, bank_details, care, counter, sign_in
from tierspayant.web.session import (
    PORTAL,
    SIGN_IN,
    CsrfRefused,
    SignInRequired,
    StrongSignInRequired,
    close_session,
)

ROUTERS = (sign_in.router, account.router, counter.router, care.router, bank_details.router)


def _message(request: Request, status: int, title: str, text: str, link: str | None = None,
             link_text: str = "") -> HTMLResponse:
    return page(request, "message.html", status_code=status, title=title, text=text, link=link, link_text=link_text)


def install(app: FastAPI) -> None:
    """Mount the portal's routes, files, headers and error pages on ``app``."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PORTAL}/static", StaticFiles(directory=HERE / "static"), name="portal-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        answer = RedirectResponse(SIGN_IN, status_code=303)
        close_session(answer)
        return answer

    @app.exception_handler(StrongSignInRequired)
    async def _strong(request: Request, _: StrongSignInRequired) -> Response:
        return _message(request, 403, "Connexion renforcée requise",
                        "Cette page montre des données de patients : elle s'ouvre avec une clé d'accès ou Pro Santé "
                        "Connect, jamais avec un mot de passe.", SIGN_IN, "Se connecter avec une clé d'accès")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _: CsrfRefused) -> Response:
        return _message(request, 403, "Requête refusée",
                        "Cette demande ne vient pas d'une page du portail, ou la page a expiré. Rechargez-la.",
                        f"{PORTAL}/", "Revenir à l'accueil")

    app.add_middleware(PortalHeaders)
    _errors_in_portal(app)


def _errors_in_portal(app: FastAPI) -> None:
    """The services' refusals on a portal page: an HTML page, not the API's problem JSON."""
    api_handlers = dict(app.exception_handlers)

    async def api_answer(request: Request, error: Exception) -> Response:
        """Off the portal, the API's own answer (its handlers: plain functions or coroutines)."""
        handler = next(api_handlers[k] for k in type(error).__mro__ if k in api_handlers)
        answer = handler(request, error)
        return await answer if inspect.isawaitable(answer) else answer  # type: ignore[no-any-return]

    async def refused(request: Request, error: Exception) -> Response:
        if not request.url.path.startswith(PORTAL):
            return await api_answer(request, error)
        if isinstance(error, Contained | RateLimited):
            return _message(request, 429, "Trop de demandes", "Patientez quelques instants puis réessayez.")
        if isinstance(error, NotFound):
            return _message(request, 404, "Introuvable", "Cette page n'existe pas, ou ne vous est pas ouverte.")
        if isinstance(error, DomainError):
            return _message(request, 422, "Saisie refusée", f"{error.field} : {error.message}")
        return _message(request, 403, "Accès refusé", "Cette page ne vous est pas ouverte.")

    async def malformed(request: Request, error: Exception) -> Response:
        """A page asked for that does not exist, a method it does not take, a path parameter
        or a form field it cannot read: on a portal path, a page saying so."""
        if not request.url.path.startswith(PORTAL):
            return await api_answer(request, error)
        status = error.status_code if isinstance(error, StarletteHTTPException) else 422
        if status == 404:
            return _message(request, 404, "Introuvable", "Cette page n'existe pas.", f"{PORTAL}/", "Accueil")
        return _message(request, status, "Demande refusée", "Cette demande n'est pas comprise : revenez à la page "
                        "précédente et réessayez.", f"{PORTAL}/", "Accueil")

    for kind in (Forbidden, Contained, RateLimited, NotFound, DomainError):
        app.add_exception_handler(kind, refused)
    for unread in (RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(unread, malformed)


def create_app(platform: Platform) -> FastAPI:
    app = create_api(platform)
    install(app)
    return app
