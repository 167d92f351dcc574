"""Pro Santé Connect-style sign-in (OpenID Connect), the recipes: the pending sign-in (state,
nonce, PKCE verifier, RFC 7636 S256), the authorization request, and the checks of what the
provider answers -- the ID token's signature against the provider's keys (JWKS), issuer,
audience, expiry, nonce and ``acr``, then the userinfo's professional identifier. Any failure is
one opaque ``OidcRejected``. Talking to the provider over HTTP is an adapter's business
(delivery/identity_provider.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tierspayant.security._hazmat.primitives import random_token
from tierspayant.security.digests import sha256
from tierspayant.security.encoding import b64url_encode

#: Signature algorithms accepted on ID tokens (never "none", never HMAC with a public key).
ALGORITHMS = ("RS256", "ES256", "PS256")
#: Clock skew tolerated on the ID token's expiry.
SKEW_SECONDS = 30


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
    return b64url_encode(sha256(verifier.encode()))


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


def authorization_query(settings: OidcSettings, pending: Pending) -> str:
    """The authorization request's query string (code flow, PKCE S256, our acr values)."""
    return urlencode({
        "response_type": "code", "client_id": settings.client_id, "redirect_uri": settings.redirect_uri,
        "scope": settings.scope, "state": pending.state, "nonce": pending.nonce,
        "code_challenge": s256(pending.verifier), "code_challenge_method": "S256",
        "acr_values": " ".join(settings.acr_values),
    })


def verified_claims(settings: OidcSettings, id_token: str, jwks: Mapping[str, Any], pending: Pending,
                    now: float) -> dict[str, Any]:
    """The ID token's claims once its signature (one of ``ALGORITHMS``, a key of ``jwks``),
    issuer, audience, expiry, nonce and acr all hold; ``OidcRejected`` otherwise."""
    try:
        keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]  # checked by joserfc itself
        claims = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS)).claims
    except (ValueError, KeyError, TypeError, JoseError):
        raise OidcRejected() from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if (claims.get("iss") != settings.issuer or settings.client_id not in audiences
            or not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - SKEW_SECONDS
            or claims.get("nonce") != pending.nonce or claims.get("acr") not in settings.acr_values):
        raise OidcRejected()
    return dict(claims)


def professional_identifier(settings: OidcSettings, claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> str:
    """The professional's RPPS (or ADELI) number from userinfo about the ID token's subject."""
    if userinfo.get("sub") != claims.get("sub"):
        raise OidcRejected()
    identifier = userinfo.get(settings.professional_claim)
    if not isinstance(identifier, str) or not identifier:
        raise OidcRejected()
    return identifier
