"""A small but real OpenID Connect provider for the tests (a stand-in for Pro Santé Connect),
served over HTTP on a local port: discovery, authorization (auto-approving the configured
user), token endpoint with PKCE S256 and client secret checks, JWKS, userinfo. Knobs let tests
make it misbehave (weak acr, wrong nonce or audience, a signature by another key)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, Header, HTTPException, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class ProviderState:
    issuer: str = ""
    client_id: str = "tierspayant"
    client_secret: str = "provider-secret-0123456789"
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "psc-user-1", "rpps": ""})
    acr: str = "eidas3"
    nonce_override: str | None = None
    audience_override: str | None = None
    sign_with_other_key: bool = False
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "psc-1"}))
    other_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "psc-1"}))


def make_app(state: ProviderState) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {"issuer": state.issuer, "authorization_endpoint": f"{state.issuer}/authorize",
                "token_endpoint": f"{state.issuer}/token", "userinfo_endpoint": f"{state.issuer}/userinfo",
                "jwks_uri": f"{state.issuer}/jwks", "code_challenge_methods_supported": ["S256"]}

    @app.get("/authorize")
    def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        if q.get("client_id") != state.client_id or q.get("code_challenge_method") != "S256":
            raise HTTPException(400)
        code = secrets.token_urlsafe(16)
        state.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q["nonce"],
                             "challenge": q["code_challenge"], "user": dict(state.user)}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    @app.post("/token")
    def token(grant_type: str = Form(...), code: str = Form(...), redirect_uri: str = Form(...),
              client_id: str = Form(...), client_secret: str = Form(...), code_verifier: str = Form(...)) -> dict:
        grant = state.codes.pop(code, None)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        if (grant is None or grant_type != "authorization_code" or client_id != state.client_id
                or client_secret != state.client_secret or redirect_uri != grant["redirect_uri"]
                or challenge != grant["challenge"]):
            raise HTTPException(400, "invalid_grant")
        now = int(time.time())
        claims = {"iss": state.issuer, "sub": grant["user"]["sub"], "aud": state.audience_override or state.client_id,
                  "iat": now, "exp": now + 300, "nonce": state.nonce_override or grant["nonce"], "acr": state.acr}
        key = state.other_key if state.sign_with_other_key else state.key
        access = secrets.token_urlsafe(16)
        state.tokens[access] = grant["user"]
        return {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                "id_token": jwt.encode({"alg": "RS256", "kid": "psc-1"}, claims, key)}

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [state.key.as_dict(private=False)]}

    @app.get("/userinfo")
    def userinfo(authorization: str = Header("")) -> dict[str, Any]:
        user = state.tokens.get(authorization.removeprefix("Bearer "))
        if user is None:
            raise HTTPException(401)
        return user

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
