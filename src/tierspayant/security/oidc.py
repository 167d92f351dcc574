"""Pro Santé Connect-style sign-in (OpenID Connect): authorization code flow with PKCE (RFC
7636, S256), the provider's discovery document, the ID token's signature (JWKS), issuer,
audience, expiry, nonce and ``acr`` checked, then the userinfo's professional identifier.
Any failure is one opaque ``OidcRejected``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tierspayant.security._hazmat.primitives import random_token
from tierspayant.security.encoding import b64url_encode

#: Signature algorithms accepted on ID tokens (never "none", never HMAC with a public key).
ALGORITHMS = ("RS256", "ES256", "PS256")


class OidcRejected(Exception):
    """The provider's answer is not a valid sign-in for us."""


@dataclass(frozen=True, slots=True)
class Pending:
    state: str
    nonce: str
    verifier: str


def new_pending() -> Pending:
    return Pending(random_token(24), random_token(24), random_token(48))


def s256(verifier: str) -> str:
    return b64url_encode(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    #: acr values accepted: those of a CPS / e-CPS sign-in (configuration).
    acr_values: tuple[str, ...]
    #: userinfo claim holding the professional's RPPS (or ADELI) number.
    professional_claim: str = "rpps"
    scope: str = "openid scope_all"


class OidcClient:
    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.Client(timeout=10)
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            try:
                response = self.http.get(self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
                response.raise_for_status()
                data = response.json()
            except (httpx.HTTPError, ValueError):
                raise OidcRejected() from None
            if data.get("issuer") != self.settings.issuer:
                raise OidcRejected()
            self._metadata = data
        return self._metadata

    def authorization_url(self, pending: Pending) -> str:
        query = urlencode({
            "response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.settings.redirect_uri,
            "scope": self.settings.scope, "state": pending.state, "nonce": pending.nonce,
            "code_challenge": s256(pending.verifier), "code_challenge_method": "S256",
            "acr_values": " ".join(self.settings.acr_values),
        })
        return f"{self.metadata()['authorization_endpoint']}?{query}"

    def sign_in(self, code: str, pending: Pending) -> str:
        """Exchange the code, verify the ID token, read the professional's identifier."""
        meta = self.metadata()
        try:
            response = self.http.post(meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": self.settings.redirect_uri,
                "client_id": self.settings.client_id, "client_secret": self.settings.client_secret,
                "code_verifier": pending.verifier,
            })
            response.raise_for_status()
            tokens = response.json()
            keys = KeySet.import_key_set(self.http.get(meta["jwks_uri"]).raise_for_status().json())
            claims = jwt.decode(tokens["id_token"], keys, algorithms=list(ALGORITHMS)).claims
        except (httpx.HTTPError, ValueError, KeyError, JoseError):
            raise OidcRejected() from None
        now = time.time()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if (claims.get("iss") != self.settings.issuer or self.settings.client_id not in audiences
                or not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 30
                or claims.get("nonce") != pending.nonce or claims.get("acr") not in self.settings.acr_values):
            raise OidcRejected()
        try:
            info = self.http.get(meta["userinfo_endpoint"],
                                 headers={"authorization": f"Bearer {tokens['access_token']}"})
            info.raise_for_status()
            userinfo = info.json()
        except (httpx.HTTPError, ValueError, KeyError):
            raise OidcRejected() from None
        if userinfo.get("sub") != claims.get("sub"):
            raise OidcRejected()
        identifier = userinfo.get(self.settings.professional_claim)
        if not isinstance(identifier, str) or not identifier:
            raise OidcRejected()
        return identifier
