"""Security headers on every portal response (docs/THREATS.md, "The portal"): a strict
Content-Security-Policy with no inline script or style (files only), no framing, no referrer,
nothing cached (pages show personal data), camera allowed to this origin only (the presence
proof's QR code)."""

from __future__ import annotations

from typing import Any

from tierspayant.web.session import PORTAL

#: CSP Level 3: scripts and styles from this origin only; forms post here only; never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=(), payment=()"),
]


class PortalHeaders:
    """ASGI middleware: the headers above on every response under ``/portail`` (replacing any
    the route set: a page cannot opt out)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PORTAL):
            await self.app(scope, receive, send)
            return
        names = {name for name, _ in HEADERS}

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + HEADERS}
            await send(message)

        await self.app(scope, receive, with_headers)
