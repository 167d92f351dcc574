"""Pro Santé Connect sign-in (OpenID Connect), the recipes: the pending sign-in (state, nonce,
PKCE verifier, RFC 7636 S256), the authorization request, the client's authentication at the
token endpoint, and the checks of what the provider answers -- the ID token's signature against
the provider's keys (JWKS), issuer, audience, expiry, nonce and ``acr``, then PSC's userinfo:
the professional's number (``SubjectNameID``), their places of practice (``SubjectRefPro``) and
the means of authentication (``authMode``). Any failure is one opaque ``OidcRejected``. Talking
to the provider over HTTP is an adapter's business (delivery/identity_provider.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, KeySet, RSAKey

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_adeli, parse_finess, parse_rpps, parse_siret
from tierspayant.security._hazmat.primitives import random_token
from tierspayant.security.digests import sha256
from tierspayant.security.encoding import b64url_encode

#: Signature algorithms accepted on ID tokens (never "none", never HMAC with a public key).
ALGORITHMS = ("RS256", "ES256", "PS256")
#: Clock skew tolerated on the ID token's expiry.
SKEW_SECONDS = 30
#: How the platform authenticates to the token endpoint (OIDC Core §9): HTTP Basic (RFC 6749
#: §2.3.1, the default of OIDC dynamic registration), the secret in the form body, or a JWT
#: signed with the platform's private key (RFC 7523 §2.2).
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: RFC 7523 §2.2: the ``client_assertion_type`` of a JWT client assertion.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: A client assertion's lifetime: one token request.
ASSERTION_SECONDS = 60
#: PSC's ``SubjectNameID`` is a one-character type then the number: 8 = RPPS (11 digits, Luhn
#: key), 0 = ADELI (9 digits). Other types (3, 4, 5: e.g. FINESS- or SIREN-based identifiers
#: of staff) are not professionals this platform pays.
NAME_ID_TYPES = {"8": ("rpps", parse_rpps), "0": ("adeli", parse_adeli)}
#: Where an activity of ``SubjectRefPro`` names its site, as PSC's userinfo spells it (and the
#: shorter spelling of earlier userinfo versions).
FINESS_FIELDS = ("numeroFinessSiteActivite", "numeroFinessSite")
SIRET_FIELDS = ("numeroSiretSiteActivite", "numeroSiretSite")

ClientKey = RSAKey | ECKey


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
    #: acr values asked for and accepted: PSC answers ``eidas1`` for a CPS card and an e-CPS alike.
    acr_values: tuple[str, ...] = ("eidas1",)
    #: ``authMode`` values accepted (CPS card, e-CPS app); empty: any, even none.
    auth_modes: tuple[str, ...] = ("CARD", "MOBILE")
    #: One of ``CLIENT_AUTH_METHODS``: what the client is registered with at the provider.
    client_auth: str = "client_secret_basic"
    #: The platform's private key, for ``private_key_jwt``.
    client_key: ClientKey | None = None
    scope: str = "openid scope_all"


@dataclass(frozen=True, slots=True)
class Activity:
    """One place of practice in PSC's ``SubjectRefPro`` (its site's FINESS and SIRET numbers,
    None when absent or malformed)."""

    finess: str | None
    siret: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Whom the provider vouched for: an RPPS or ADELI number (``kind``: "rpps" | "adeli"),
    where they practise (PSC's order), and how they authenticated (``authMode``)."""

    kind: str
    number: str
    activities: tuple[Activity, ...]
    auth_means: str | None


def client_key(data: bytes) -> ClientKey:
    """The platform's private key for ``private_key_jwt``: a PEM (RSA, or EC P-256) or a JWK
    (JSON). ``ValueError`` when it is neither, or only a public key."""
    try:
        text = data.strip()
        if text.startswith(b"{"):
            key: Any = JWKRegistry.import_key(json.loads(text))
        else:
            try:
                key = RSAKey.import_key(text)
            except (JoseError, ValueError, TypeError):
                key = ECKey.import_key(text)
    except (JoseError, ValueError, TypeError):
        raise ValueError("not an RSA or EC P-256 private key (PEM or JWK)") from None
    if not isinstance(key, RSAKey | ECKey) or not key.is_private or (isinstance(key, ECKey)
                                                                      and key.curve_name != "P-256"):
        raise ValueError("not an RSA or EC P-256 private key (PEM or JWK)")
    return key


def authorization_query(settings: OidcSettings, pending: Pending) -> str:
    """The authorization request's query string (code flow, PKCE S256, our acr values: PSC's
    clients send ``acr_values=eidas1``)."""
    return urlencode({
        "response_type": "code", "client_id": settings.client_id, "redirect_uri": settings.redirect_uri,
        "scope": settings.scope, "state": pending.state, "nonce": pending.nonce,
        "code_challenge": s256(pending.verifier), "code_challenge_method": "S256",
        "acr_values": " ".join(settings.acr_values),
    })


def token_request(settings: OidcSettings, code: str, pending: Pending, token_endpoint: str,
                  now: float) -> tuple[dict[str, str], dict[str, str]]:
    """The token request's (headers, form) for the code, authenticated the one way the client
    is registered with (RFC 6749 §2.3: never more than one method in a request)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": settings.redirect_uri,
            "code_verifier": pending.verifier}
    if settings.client_auth == "client_secret_basic":
        # RFC 6749 §2.3.1: each part form-urlencoded (Appendix B) before "id:secret" goes in base64.
        pair = f"{quote_plus(settings.client_id)}:{quote_plus(settings.client_secret)}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}, form
    if settings.client_auth == "client_secret_post":
        return {}, {**form, "client_id": settings.client_id, "client_secret": settings.client_secret}
    if settings.client_auth == "private_key_jwt" and settings.client_key is not None:
        return {}, {**form, "client_assertion_type": JWT_BEARER,
                    "client_assertion": client_assertion(settings, settings.client_key, token_endpoint, now)}
    raise OidcRejected()  # a misconfiguration the settings' checks should have caught


def client_assertion(settings: OidcSettings, key: ClientKey, token_endpoint: str, now: float) -> str:
    """A JWT client assertion (RFC 7523 §3, OIDC Core §9 ``private_key_jwt``): iss and sub the
    client id, aud the token endpoint, a fresh jti, a minute's lifetime; signed RS256 or ES256
    with the platform's key, named by its RFC 7638 thumbprint."""
    issued = int(now)
    claims = {"iss": settings.client_id, "sub": settings.client_id, "aud": token_endpoint,
              "jti": random_token(24), "iat": issued, "exp": issued + ASSERTION_SECONDS}
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    return jwt.encode({"alg": alg, "kid": key.thumbprint()}, claims, key, algorithms=[alg])


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


def identity(settings: OidcSettings, claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> Identity:
    """The professional PSC's userinfo describes, about the ID token's subject (OIDC Core
    §5.3.2: its ``sub`` must be the ID token's): the number from ``SubjectNameID`` by its type
    (``NAME_ID_TYPES``, key or format checked), the activities of every ``exercice`` of
    ``SubjectRefPro``, and the means of authentication -- the ID token's ``authMode``, else
    userinfo's -- one of ``settings.auth_modes``."""
    if userinfo.get("sub") != claims.get("sub"):
        raise OidcRejected()
    name_id = userinfo.get("SubjectNameID")
    if not isinstance(name_id, str) or name_id[:1] not in NAME_ID_TYPES:
        raise OidcRejected()
    kind, parse = NAME_ID_TYPES[name_id[0]]
    try:
        number = parse(name_id[1:], kind)
    except InvalidField:
        raise OidcRejected() from None
    if number != name_id[1:]:  # no spaces around the number: exactly the type then the digits
        raise OidcRejected()
    means = claims.get("authMode", userinfo.get("authMode"))
    if settings.auth_modes and means not in settings.auth_modes:
        raise OidcRejected()
    return Identity(kind, number, activities(userinfo.get("SubjectRefPro")),
                    means if isinstance(means, str) else None)


def activities(ref_pro: object) -> tuple[Activity, ...]:
    """Every activity of every ``exercice`` of ``SubjectRefPro``, in PSC's order."""
    found: list[Activity] = []
    exercices = ref_pro.get("exercices") if isinstance(ref_pro, Mapping) else None
    for exercice in exercices if isinstance(exercices, list) else ():
        listed = exercice.get("activities") if isinstance(exercice, Mapping) else None
        for activity in listed if isinstance(listed, list) else ():
            if isinstance(activity, Mapping):
                found.append(Activity(_site_number(activity, FINESS_FIELDS, parse_finess),
                                      _site_number(activity, SIRET_FIELDS, parse_siret)))
    return tuple(found)


def _site_number(activity: Mapping[str, Any], fields: tuple[str, ...], parse: Callable[[str], str]) -> str | None:
    for name in fields:
        value = activity.get(name)
        if isinstance(value, str) and value.strip():
            try:
                return parse(value)
            except InvalidField:
                return None
    return None
