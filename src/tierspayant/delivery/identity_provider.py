"""Pro Santé Connect over HTTP (``services.ports.outside.IdentityProvider``): its discovery
document, the token endpoint (the client authenticated as it is registered: security/oidc.py
``token_request``), the userinfo endpoint, its keys. Every check of what it answers is a recipe
of security/oidc.py; any failure here is the same opaque ``OidcRejected``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tierspayant.security.oidc import (
    Identity,
    OidcRejected,
    OidcSettings,
    Pending,
    authorization_query,
    identity,
    token_request,
    verified_claims,
)


class OidcClient:
    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.Client(timeout=10)
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            data = self._json("GET", self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if data.get("issuer") != self.settings.issuer:
                raise OidcRejected()
            self._metadata = data
        return self._metadata

    def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, url, **kwargs)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError):
            raise OidcRejected() from None
        if not isinstance(data, dict):
            raise OidcRejected()
        return data

    def authorization_url(self, pending: Pending) -> str:
        return f"{self.metadata()['authorization_endpoint']}?{authorization_query(self.settings, pending)}"

    def sign_in(self, code: str, pending: Pending) -> Identity:
        """Exchange the code, verify the ID token, read whom PSC's userinfo describes."""
        meta = self.metadata()
        try:
            endpoint = meta["token_endpoint"]
            if not isinstance(endpoint, str):
                raise OidcRejected()
            headers, form = token_request(self.settings, code, pending, endpoint, time.time())
            tokens = self._json("POST", endpoint, data=form, headers=headers)
            claims = verified_claims(self.settings, tokens["id_token"], self._json("GET", meta["jwks_uri"]), pending,
                                     time.time())
            userinfo = self._json("GET", meta["userinfo_endpoint"],
                                  headers={"authorization": f"Bearer {tokens['access_token']}"})
        except KeyError:
            raise OidcRejected() from None
        return identity(self.settings, claims, userinfo)
