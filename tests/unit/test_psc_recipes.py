"""Pro Santé Connect's recipes (security/oidc.py), without a provider: PSC's userinfo read into
an identity (SubjectNameID by its type, SubjectRefPro's activities, authMode), and the client's
authentication at the token endpoint (RFC 6749 §2.3.1, RFC 7523 / OIDC Core §9)."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote_plus

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.oidc_provider import psc_activity, psc_userinfo
from tierspayant.domain.identifiers import rpps_with_key
from tierspayant.security.oidc import (
    JWT_BEARER,
    Activity,
    Identity,
    OidcRejected,
    OidcSettings,
    Pending,
    client_key,
    identity,
    token_request,
)

RPPS = rpps_with_key("1000000001")
SIRET = "73282932000074"
SETTINGS = OidcSettings("https://psc.test", "client id", "s3cret:+&=", "https://tp.test/cb")
PENDING = Pending("state", "nonce", "verifier")
ENDPOINT = "https://psc.test/token"


def read(name_id: str, exercices: list[list[dict[str, str]]], means: object = "CARD",
         settings: OidcSettings = SETTINGS) -> Identity:
    userinfo = psc_userinfo(name_id, exercices)
    claims = {"sub": userinfo["sub"], **({"authMode": means} if means is not None else {})}
    return identity(settings, claims, userinfo)


def test_subject_name_id_gives_the_number_by_its_type() -> None:
    found = read("8" + RPPS, [[psc_activity(siret=SIRET)], [psc_activity(finess="2A0000017"), psc_activity()]])
    assert found == Identity("rpps", RPPS, (Activity(None, SIRET), Activity("2A0000017", None), Activity(None, None)),
                             "CARD")
    assert read("0751234568", [[psc_activity(finess="750000017")]]) == Identity(
        "adeli", "751234568", (Activity("750000017", None),), "CARD")


@pytest.mark.parametrize("name_id", [
    "3" + RPPS, "4" + RPPS, "5" + RPPS, RPPS, "8" + RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10), "8" + RPPS + "0",
    "0" + RPPS, "075123456", "8 " + RPPS, "", "ANS20231122132732"])
def test_any_other_identifier_is_refused(name_id: str) -> None:
    with pytest.raises(OidcRejected):
        read(name_id, [[psc_activity(siret=SIRET)]])


def test_the_means_of_authentication_come_from_the_id_token_then_userinfo() -> None:
    userinfo = {**psc_userinfo("8" + RPPS, [[psc_activity()]]), "authMode": "MOBILE"}
    assert identity(SETTINGS, {"sub": userinfo["sub"]}, userinfo).auth_means == "MOBILE"
    assert identity(SETTINGS, {"sub": userinfo["sub"], "authMode": "CARD"}, userinfo).auth_means == "CARD"
    for means in ("PASSWORD", None, ["CARD"]):
        with pytest.raises(OidcRejected):
            read("8" + RPPS, [[psc_activity()]], means)
    anything = OidcSettings("https://psc.test", "c", "s", "https://tp.test/cb", auth_modes=())
    assert read("8" + RPPS, [[psc_activity()]], None, anything).auth_means is None


def test_userinfo_about_another_subject_or_malformed_practice() -> None:
    userinfo = psc_userinfo("8" + RPPS, [[psc_activity()]])
    with pytest.raises(OidcRejected):
        identity(SETTINGS, {"sub": "someone else", "authMode": "CARD"}, userinfo)
    for ref_pro in (None, "x", {"exercices": "x"}, {"exercices": [{"activities": ["x", 3]}, "y"]}):
        assert identity(SETTINGS, {"sub": userinfo["sub"], "authMode": "CARD"},
                        {**userinfo, "SubjectRefPro": ref_pro}).activities == ()
    malformed = psc_activity(finess="75000001", siret="12345678901234")  # 8 characters, a bad Luhn key
    assert read("8" + RPPS, [[malformed]]).activities == (Activity(None, None),)
    older = {"numeroFinessSite": "750000017", "numeroSiretSite": SIRET}  # earlier userinfo's spelling
    assert read("8" + RPPS, [[older]]).activities == (Activity("750000017", SIRET),)


def test_client_secret_basic_and_post() -> None:
    headers, form = token_request(SETTINGS, "the code", PENDING, ENDPOINT, 1_700_000_000)
    user, _, password = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == ("client+id", "s3cret%3A%2B%26%3D")  # RFC 6749 §2.3.1: each part form-encoded
    assert (unquote_plus(user), unquote_plus(password)) == (SETTINGS.client_id, SETTINGS.client_secret)
    assert form == {"grant_type": "authorization_code", "code": "the code", "redirect_uri": "https://tp.test/cb",
                    "code_verifier": "verifier"}
    post = OidcSettings("https://psc.test", "client id", "s3cret", "https://tp.test/cb",
                        client_auth="client_secret_post")
    headers, form = token_request(post, "the code", PENDING, ENDPOINT, 1_700_000_000)
    assert headers == {} and (form["client_id"], form["client_secret"]) == ("client id", "s3cret")


@pytest.mark.parametrize("key", [RSAKey.generate_key(2048), ECKey.generate_key("P-256")])
def test_private_key_jwt_signs_an_assertion_for_the_token_endpoint(key: RSAKey | ECKey) -> None:
    pem = key.as_pem(private=True)
    settings = OidcSettings("https://psc.test", "tierspayant", "", "https://tp.test/cb", client_auth="private_key_jwt",
                            client_key=client_key(pem))
    headers, form = token_request(settings, "c", PENDING, ENDPOINT, 1_700_000_000)
    assert headers == {} and "client_secret" not in form and form["client_assertion_type"] == JWT_BEARER
    token = jwt.decode(form["client_assertion"], type(key).import_key(key.as_dict(private=False)))
    assert token.header["alg"] == ("RS256" if isinstance(key, RSAKey) else "ES256")
    assert token.header["kid"] == key.thumbprint()
    claims = token.claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("tierspayant", "tierspayant", ENDPOINT)
    assert (claims["iat"], claims["exp"]) == (1_700_000_000, 1_700_000_060) and len(claims["jti"]) >= 32
    again = token_request(settings, "c", PENDING, ENDPOINT, 1_700_000_000)[1]["client_assertion"]
    assert jwt.decode(again, key).claims["jti"] != claims["jti"]  # a fresh jti each time
    assert client_key(json.dumps(key.as_dict(private=True)).encode()).thumbprint() == key.thumbprint()  # a JWK too


@pytest.mark.parametrize("data", [b"", b"not a key", RSAKey.generate_key(2048).as_pem(private=False),
                                  ECKey.generate_key("P-384").as_pem(private=True),
                                  b'{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAA"}'])
def test_a_client_key_must_be_a_private_rsa_or_p256_key(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an RSA or EC P-256 private key"):
        client_key(data)


def test_private_key_jwt_without_a_key_sends_nothing() -> None:
    settings = OidcSettings("https://psc.test", "tierspayant", "", "https://tp.test/cb", client_auth="private_key_jwt")
    with pytest.raises(OidcRejected):
        token_request(settings, "c", PENDING, ENDPOINT, 0)
