"""A small but real OpenID Connect provider for the tests, a stand-in for Pro Santé Connect served
over HTTP on a local port: discovery, authorization (auto-approving the configured user), token
endpoint, JWKS, userinfo -- answering in PSC's shapes and as strictly as a real provider.

PSC's shapes: the ID token says ``acr: "eidas1"`` (a CPS card and an e-CPS alike) and the means
in ``authMode`` (CARD, MOBILE), in the ID token, the userinfo or both; the userinfo names the
professional by ``SubjectNameID`` (a type then the number: 8 + RPPS, 0 + ADELI) and their
practice by ``SubjectRefPro`` (exercices, each with its activities and their sites' FINESS and
SIRET numbers); ``psc_userinfo`` and ``psc_activity`` build them.

Strict: the authorization request must ask for ``acr_values=eidas1`` with PKCE S256; the token
endpoint accepts only the client authentication method registered for the client
(``client_auth``: client_secret_basic, client_secret_post or private_key_jwt, RFC 6749 §2.3 and
RFC 7523), one method a request, and checks a client assertion with the client's public key
(``client_key``): signature, iss = sub = client id, aud = the token endpoint, expiry, a jti never
seen. Knobs make it misbehave (another acr or nonce or audience, a signature by another key, a
token altered after signing)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def psc_activity(finess: str = "", siret: str = "", name: str = "CABINET") -> dict[str, str]:
    """One activity of ``SubjectRefPro``, every field PSC sends (empty where it has nothing)."""
    return {
        "codeModeExercice": "L", "codeSecteurDactivite": "SA07", "codeSectionPharmacien": "", "codeRole": "",
        "codeGenreActivite": "GENR01", "numeroSiretSiteActivite": siret, "numeroSirenSiteActivite": siret[:9],
        "numeroFinessSiteActivite": finess, "numeroFinessetablissementJuridique": "",
        "identifiantTechniqueDeLaStructure": "R" + (finess or siret or "0")[-5:], "raisonSocialeSite": name,
        "enseigneCommercialeSite": "", "complementDestinataire": "", "complementPointGeographique": "",
        "numeroVoie": "2", "indiceRepetitionVoie": "", "codeTypeDeVoie": "R", "libelleVoie": "DE LA PAIX",
        "mentionDistribution": "", "bureauCedex": "75015 PARIS", "codePostal": "75015", "codeCommune": "75115",
        "codePays": "99000", "telephone": "", "telephone2": "", "telecopie": "", "adresseEMail": "",
        "codeDepartement": "75", "ancienIdentifiantDeLaStructure": "", "autoriteDenregistrement": "CNOO/CNOO/CNOO",
    }


def psc_userinfo(name_id: str, exercices: list[list[dict[str, str]]], profession: str = "28") -> dict[str, Any]:
    """PSC's userinfo for ``SubjectNameID`` ``name_id`` practising in ``exercices`` (each a list
    of activities); ``sub`` as PSC builds it (a technical id, then the SubjectNameID)."""
    return {
        "sub": f"f:{uuid.uuid5(uuid.NAMESPACE_URL, name_id)}:{name_id}", "SubjectNameID": name_id,
        "preferred_username": name_id, "given_name": "CLAIRE", "family_name": "LUMIERE", "codeCivilite": "MME",
        "SubjectOrganization": exercices[0][0].get("raisonSocialeSite", "") if exercices and exercices[0] else "",
        "SubjectRole": [f"{profession}^1.2.250.1.213.1.1.5.5"], "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
        "PSI_Locale": "1.2.250.1.213.1.3.1.1", "UITVersion": "1.0", "Mode_Acces_Raison": "",
        "Acces_Regulation_Medicale": "FAUX", "otherIds": [{"identifiant": name_id, "origine": "RPPS", "qualite": 1}],
        "SubjectRefPro": {"codeCivilite": "MME", "exercices": [
            {"codeProfession": profession, "codeCategorieProfessionnelle": "C", "codeCiviliteDexercice": "",
             "nomDexercice": "LUMIERE", "prenomDexercice": "CLAIRE", "codeTypeSavoirFaire": "", "codeSavoirFaire": "",
             "activities": activities}
            for activities in exercices]},
    }


@dataclass
class ProviderState:
    issuer: str = ""
    client_id: str = "tierspayant"
    client_secret: str = "provider-secret-0123456789"
    #: The client authentication method registered for the client, and its public key (private_key_jwt).
    client_auth: str = "client_secret_basic"
    client_key: RSAKey | ECKey | None = None
    user: dict[str, Any] = field(default_factory=lambda: psc_userinfo("810000000000", [[psc_activity()]]))
    acr: str = "eidas1"
    auth_mode: str | None = "CARD"
    #: Where ``authMode`` is said: "id_token", "userinfo" or "both".
    auth_mode_in: str = "id_token"
    palier: str = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
    nonce_override: str | None = None
    audience_override: str | None = None
    sign_with_other_key: bool = False
    #: The ID token's payload changed after it was signed (its signature no longer matches).
    tamper_id_token: bool = False
    #: The userinfo of another subject than the ID token's.
    userinfo_sub_override: str | None = None
    #: What the token endpoint saw: the method each accepted request used.
    accepted_methods: list[str] = field(default_factory=list)
    seen_jtis: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "psc-1"}))
    other_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "psc-1"}))


def _invalid_client() -> HTTPException:
    # RFC 6749 §5.2: a client that failed to authenticate gets 401 invalid_client.
    return HTTPException(401, "invalid_client")


def _basic_client(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: Basic base64(urlencoded id ":" urlencoded secret)."""
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except ValueError:
        raise _invalid_client() from None
    return unquote_plus(user), unquote_plus(password)


def _check_assertion(state: ProviderState, assertion: str) -> None:
    """RFC 7523 §3: signed by the client's registered key, iss = sub = client id, aud the token
    endpoint, not expired, a jti never seen before."""
    if state.client_key is None:
        raise _invalid_client()
    try:
        claims = jwt.decode(assertion, state.client_key, algorithms=["RS256", "ES256", "PS256"]).claims
    except (JoseError, ValueError):
        raise _invalid_client() from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    now = time.time()
    if (claims.get("iss") != state.client_id or claims.get("sub") != state.client_id
            or f"{state.issuer}/token" not in audiences or not isinstance(claims.get("exp"), int)
            or claims["exp"] < now or claims["exp"] > now + 600 or not claims.get("jti")
            or claims["jti"] in state.seen_jtis):
        raise _invalid_client()
    state.seen_jtis.add(claims["jti"])


def _client_method(state: ProviderState, authorization: str, form: dict[str, str]) -> str:
    """The one authentication method the request used, once checked; 401 otherwise."""
    basic = _basic_client(authorization)
    used = [m for m, present in (("client_secret_basic", basic is not None),
                                 ("client_secret_post", "client_secret" in form),
                                 ("private_key_jwt", "client_assertion" in form)) if present]
    if len(used) != 1 or used[0] != state.client_auth:  # RFC 6749 §2.3: exactly one method, the registered one
        raise _invalid_client()
    if basic is not None:
        if basic != (state.client_id, state.client_secret) or form.get("client_id", state.client_id) != state.client_id:
            raise _invalid_client()
    elif "client_secret" in form:
        if form.get("client_id") != state.client_id or form["client_secret"] != state.client_secret:
            raise _invalid_client()
    else:
        if form.get("client_assertion_type") != JWT_BEARER or form.get("client_id", state.client_id) != state.client_id:
            raise _invalid_client()
        _check_assertion(state, form["client_assertion"])
    return used[0]


def _tampered(token: str) -> str:
    """The token with its payload rewritten (a longer life, another subject) and the original
    signature kept: what a man in the middle would try."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(exp=claims["exp"] + 86_400, sub=claims["sub"] + "-other")
    altered = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{header}.{altered}.{signature}"


def make_app(state: ProviderState) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {"issuer": state.issuer, "authorization_endpoint": f"{state.issuer}/authorize",
                "token_endpoint": f"{state.issuer}/token", "userinfo_endpoint": f"{state.issuer}/userinfo",
                "jwks_uri": f"{state.issuer}/jwks", "code_challenge_methods_supported": ["S256"],
                "acr_values_supported": ["eidas1"], "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                          "private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"]}

    @app.get("/authorize")
    def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        if (q.get("client_id") != state.client_id or q.get("code_challenge_method") != "S256"
                or q.get("response_type") != "code" or "openid" not in q.get("scope", "").split()
                or q.get("acr_values") != "eidas1"):
            raise HTTPException(400)
        code = secrets.token_urlsafe(16)
        state.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q["nonce"],
                             "challenge": q["code_challenge"], "user": dict(state.user)}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        method = _client_method(state, request.headers.get("authorization", ""), form)
        grant = state.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (grant is None or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]):
            raise HTTPException(400, "invalid_grant")
        state.accepted_methods.append(method)
        now = int(time.time())
        user = grant["user"]
        claims: dict[str, Any] = {
            "exp": now + 300, "iat": now, "auth_time": now - 5, "jti": str(uuid.uuid4()), "iss": state.issuer,
            "aud": state.audience_override or state.client_id, "sub": user["sub"], "typ": "ID",
            "azp": state.client_id, "nonce": state.nonce_override or grant["nonce"], "session_state": str(uuid.uuid4()),
            "acr": state.acr, "sid": str(uuid.uuid4())}
        if state.auth_mode is not None and state.auth_mode_in in ("id_token", "both"):
            claims["authMode"] = state.auth_mode
        key = state.other_key if state.sign_with_other_key else state.key
        id_token = jwt.encode({"alg": "RS256", "kid": "psc-1", "typ": "JWT"}, claims, key)
        if state.tamper_id_token:
            id_token = _tampered(id_token)
        access = secrets.token_urlsafe(16)
        state.tokens[access] = user
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 120,
                             "refresh_expires_in": 0, "id_token": id_token, "not-before-policy": 0,
                             "session_state": claims["session_state"], "scope": "openid scope_all"},
                            headers={"cache-control": "no-store"})

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [state.key.as_dict(private=False)]}

    @app.get("/userinfo")
    def userinfo(request: Request) -> dict[str, Any]:
        user = state.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if user is None:
            raise HTTPException(401)
        answer = {**user, "Palier_Authentification": state.palier}
        if state.auth_mode is not None and state.auth_mode_in in ("userinfo", "both"):
            answer["authMode"] = state.auth_mode
        if state.userinfo_sub_override is not None:
            answer["sub"] = state.userinfo_sub_override
        return answer

    return app


class Provider:
    """Runs the provider with uvicorn in a thread on a free local port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.state = ProviderState(issuer=f"http://127.0.0.1:{self.port}")
        config = uvicorn.Config(make_app(self.state), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
