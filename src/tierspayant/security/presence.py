"""Presence proofs: a short-lived, single-use token the patient's side (insurer app, card,
attestation QR code) issues to show the patient is at the counter (docs/THREATS.md: bound to the
beneficiary, the time and a nonce, valid <= 20 min, single use; the INSi "Vitale assertion"
precedent). Ed25519-signed; one opaque error for every way a token can be wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierspayant.security._hazmat.primitives import ed25519_public, ed25519_sign, ed25519_verify, random_token
from tierspayant.security.encoding import b64url_decode, b64url_encode

PREFIX = "TPP1."
MAX_VALIDITY = timedelta(minutes=20)


class InvalidPresenceProof(Exception):
    """Malformed, forged, expired, or too long-lived. Deliberately says nothing more."""


@dataclass(frozen=True, slots=True)
class PresenceClaims:
    insurer: str  # AMC number
    beneficiary: str  # keyed pseudonym of the beneficiary
    issued_at: datetime
    expires_at: datetime
    nonce: str


class PresenceIssuer:
    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self.public_key = ed25519_public(seed)

    def issue(self, insurer: str, beneficiary: str, at: datetime, validity: timedelta = MAX_VALIDITY) -> str:
        if validity > MAX_VALIDITY:
            raise ValueError("a presence proof lives at most 20 minutes")
        payload = json.dumps({"ins": insurer, "ben": beneficiary, "iat": int(at.timestamp()),
                              "exp": int((at + validity).timestamp()), "n": random_token(16)},
                             separators=(",", ":"), sort_keys=True).encode()
        signed = PREFIX + b64url_encode(payload)
        return signed + "." + b64url_encode(ed25519_sign(self._seed, signed.encode()))


class PresenceVerifier:
    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key

    def verify(self, token: str, at: datetime) -> PresenceClaims:
        try:
            signed, _, signature = token.rpartition(".")
            raw_signature = b64url_decode(signature)
            # Canonical base64 only: unused low bits would give one proof a second spelling.
            if not signed.startswith(PREFIX) or b64url_encode(raw_signature) != signature \
                    or not ed25519_verify(self.public_key, signed.encode(), raw_signature):
                raise InvalidPresenceProof()
            raw = json.loads(b64url_decode(signed[len(PREFIX):]))
            claims = PresenceClaims(str(raw["ins"]), str(raw["ben"]), datetime.fromtimestamp(int(raw["iat"]), at.tzinfo),
                                    datetime.fromtimestamp(int(raw["exp"]), at.tzinfo), str(raw["n"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidPresenceProof() from None
        if claims.expires_at - claims.issued_at > MAX_VALIDITY or not claims.issued_at - timedelta(minutes=2) <= at \
                or at > claims.expires_at or not 16 <= len(claims.nonce) <= 64:
            raise InvalidPresenceProof()
        return claims
