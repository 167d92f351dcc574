"""RFC 9457 problem details, each naming the field at fault when there is one."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierspayant.domain.errors import DomainError
from tierspayant.security.fields import KeyCustodyUnavailable
from tierspayant.security.passwords import HashingBusy
from tierspayant.security.policy import NotFound
from tierspayant.services.errors import (
    AccountSuspended,
    AssuranceRequired,
    Contained,
    Forbidden,
    RateLimited,
    Throttled,
    Unauthenticated,
)
from tierspayant.services.ports import Conflict, LogUnavailable
from tierspayant.services.rights import PresenceRequired

log = logging.getLogger("tierspayant.api")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'lines', 0, 'price') -> 'lines[0].price'; ('query', 'at') -> 'at'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = err.get("loc", ())
        # Pydantic's union branches add type names to the location (e.g. 'decimal'); drop them.
        clean = [p for p in loc if p not in ("function-after[parse(), str]", "decimal", "str", "float", "int")]
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            message = "malformed JSON"
        errors.append({"field": field_path(clean), "message": message})
    return problem(422, "Invalid request", f"{len(errors)} invalid field(s)", errors)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    entry = {"field": exc.field, "message": exc.message, "code": exc.code}
    rule = getattr(exc, "rule", None)
    if rule:
        entry["rule"] = rule
    return problem(422, "Invalid request", exc.message, [entry])


def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return problem(409, "Conflict", exc.message, [{"field": exc.field, "message": exc.message}])


def _not_found(_: Request, __: Exception) -> JSONResponse:
    # Same answer whether the object is absent or belongs to someone else (docs/THREATS.md T10).
    return problem(404, "Not found")


def _unauthenticated(_: Request, __: Exception) -> JSONResponse:
    return problem(401, "Authentication required", headers={"WWW-Authenticate": "Bearer"})


def _assurance(_: Request, __: Exception) -> JSONResponse:
    return problem(403, "Phishing-resistant sign-in required",
                   "beneficiary data is reached only with a passkey (or Pro Santé Connect) session; "
                   "a password + TOTP session is not enough")


def _forbidden(_: Request, __: Exception) -> JSONResponse:
    return problem(403, "Forbidden", "your role may not use this function")


def _suspended(_: Request, __: Exception) -> JSONResponse:
    return problem(403, "Account suspended", "the platform's security team suspended this account after unusual "
                   "activity; call your organisation's administrator or the operator's security desk to have it "
                   "checked and lifted")


def _throttled(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Throttled)
    return problem(429, "Too many failed sign-ins from your network", "retry later, or sign in with a passkey",
                   headers={"Retry-After": str(exc.retry_after)})


def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return problem(429, "Too many requests", "this account sends faster than the platform answers anyone; slow down",
                   headers={"Retry-After": str(exc.retry_after)})


def _busy(_: Request, __: Exception) -> JSONResponse:
    return problem(503, "Sign-in busy", "too many password sign-ins at once; retry in a moment, or sign in with a "
                   "passkey", headers={"Retry-After": "1"})


def _contained(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Contained)
    if exc.scope == "insurer":
        return problem(503, "Route closed", "this insurer's rights checks are closed for now; retry later",
                       headers={"Retry-After": str(exc.retry_after or 60)})
    return problem(429, "Unusual activity: slowed down", "retry later; a security officer has been alerted",
                   headers={"Retry-After": str(exc.retry_after or 60)})


def _log_unavailable(_: Request, __: Exception) -> JSONResponse:
    log.error("access log unavailable: request refused (fail closed)")
    return problem(503, "Service unavailable", "the access record is unavailable; nothing was done, retry later",
                   headers={"Retry-After": "5"})


def _key_custody_unavailable(_: Request, __: Exception) -> JSONResponse:
    # The HSM holding the key-encryption key does not answer (docs/THREATS.md T5, "Key custody"):
    # fail closed, as when the database is away -- never "not found", which would say "shredded".
    log.error("key-encryption key unavailable: request refused (fail closed)")
    return problem(503, "Service unavailable", "a key is unavailable for a moment; nothing was done, retry later",
                   headers={"Retry-After": "5"})


def _presence_required(_: Request, __: Exception) -> JSONResponse:
    message = ("the patient's presence proof is required: a budget of checks without one is spent (the day's, "
               "or the checks of the last 7 or 30 days not followed by an invoice), your organisation must show "
               "proofs for now, or the proof shown is invalid, expired, already used or not this patient's")
    return problem(403, "Presence proof required", message,
                   [{"field": "presence_proof", "message": message, "code": "presence_proof_required"}])


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI could not decode the body (not UTF-8): an invalid body, as documented
        return problem(422, "Invalid request", "1 invalid field(s)", [{"field": "body", "message": "malformed JSON"}])
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


#: What a database that is away says (PostgreSQL restarting, unreachable, read-only, out of space;
#: SQLite's disk full, read-only or locked past its timeout): the SQLSTATE classes 08 (connection),
#: 53 (insufficient resources), 57 (operator intervention: shutting down), 25006 (read-only).
_AWAY_STATES = ("08", "53", "57", "25006")
_AWAY_TEXT = ("disk is full", "readonly", "read-only", "database is locked", "disk i/o error", "unable to open",
              "connection", "server closed", "could not connect", "no space left")


#: The driver's own errors (the hot path's prepared statements run on the driver's cursor).
_DRIVER_AWAY = (sqlite3.OperationalError, psycopg.OperationalError, psycopg.InterfaceError)


def database_away(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away for now (issue 16, point 6), not a bug."""
    wrapped = isinstance(exc, (OperationalError, InterfaceError)) or (isinstance(exc, DBAPIError)
                                                                       and exc.connection_invalidated)
    if not wrapped and not isinstance(exc, _DRIVER_AWAY):
        return False
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", "") or "")
    text = str(orig).lower()
    return (state.startswith(_AWAY_STATES) or any(t in text for t in _AWAY_TEXT)
            or isinstance(exc, InterfaceError | psycopg.InterfaceError))


def _database(request: Request, exc: Exception) -> JSONResponse:
    """A database error: 503 with Retry-After when the database is away (nothing was done: the
    transaction did not commit), else the 500 of a bug."""
    if database_away(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem(503, "Service unavailable", "the database is unavailable for a moment; nothing was done, "
                       "retry later", headers={"Retry-After": "2"})
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Log the type and route only: the exception text may hold personal data.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem(500, "Internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(PresenceRequired, _presence_required)
    app.add_exception_handler(AssuranceRequired, _assurance)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(LogUnavailable, _log_unavailable)
    app.add_exception_handler(KeyCustodyUnavailable, _key_custody_unavailable)
    app.add_exception_handler(Throttled, _throttled)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(HashingBusy, _busy)
    app.add_exception_handler(Contained, _contained)
    app.add_exception_handler(AccountSuspended, _suspended)
    app.add_exception_handler(StarletteHTTPException, _http)
    for error in (DBAPIError, *_DRIVER_AWAY):
        app.add_exception_handler(error, _database)
    app.add_exception_handler(Exception, _unexpected)
