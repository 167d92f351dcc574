"""The OpenID Connect provider over HTTP (``services.ports.outside.IdentityProvider``): its
discovery document, the token and userinfo endpoints, its keys. Every check of what it answers
is a recipe of security/oidc.py; any failure here is the same opaque ``OidcRejected``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tierspayant.security.oidc import (
    OidcRejected,
    OidcSettings,
    Pending,
    authorization_query,
    professional_identifier,
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

    def sign_in(self, code: str, pending: Pending) -> str:
        """Exchange the code, verify the ID token, read the professional's identifier."""
        meta = self.metadata()
        try:
            tokens = self._json("POST", meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": self.settings.redirect_uri,
                "client_id": self.settings.client_id, "client_secret": self.settings.client_secret,
                "code_verifier": pending.verifier,
            })
            claims = verified_claims(self.settings, tokens["id_token"], self._json("GET", meta["jwks_uri"]), pending,
                                     time.time())
            userinfo = self._json("GET", meta["userinfo_endpoint"],
                                  headers={"authorization": f"Bearer {tokens['access_token']}"})
        except KeyError:
            raise OidcRejected() from None
        return professional_identifier(self.settings, claims, userinfo)
