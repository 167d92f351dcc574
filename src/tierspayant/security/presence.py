"""Presence proofs: a short-lived, single-use token the patient's side (insurer app, card,
attestation QR code) issues to show the patient is at the counter (docs/THREATS.md: bound to the
beneficiary, the time and a nonce, valid <= 20 min, single use; the INSi "Vitale assertion"
precedent). Ed25519-signed; one opaque error for every way a token can be wrong."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierspayant.security import typed_codes
from tierspayant.security._hazmat.primitives import (
    ed25519_public,
    ed25519_sign,
    ed25519_verify,
    random_bytes,
    random_token,
)
from tierspayant.security.encoding import b64url_decode, b64url_encode

PREFIX = "TPP1."
MAX_VALIDITY = timedelta(minutes=20)
#: The typed form (``PresenceIssuer.issue_typed``): a version byte, the AMC number (4 bytes),
#: the beneficiary's pseudonym (15 bytes), issued at (4 bytes, Unix seconds), minutes of
#: validity (1), a nonce (10), then the Ed25519 signature (64) of ``TYPED_CONTEXT`` and those
#: 35 bytes: 99 bytes, 159 characters in groups of four and a check character.
TYPED_VERSION, TYPED_CONTEXT = 2, b"tierspayant presence proof, typed form v2"
TYPED_LENGTH = 35 + 64


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

    def issue_typed(self, insurer: str, beneficiary: str, at: datetime, validity: timedelta = MAX_VALIDITY) -> str:
        """The same proof in the form a person types (security/typed_codes.py): ``7ZQ4-...-K``."""
        if validity > MAX_VALIDITY:
            raise ValueError("a presence proof lives at most 20 minutes")
        payload = (bytes([TYPED_VERSION]) + int(insurer).to_bytes(4, "big")
                   + base64.b32decode(beneficiary.removeprefix("b_").upper()) + int(at.timestamp()).to_bytes(4, "big")
                   + bytes([int(validity.total_seconds() // 60)]) + random_bytes(10))
        return typed_codes.encode(payload + ed25519_sign(self._seed, TYPED_CONTEXT + payload))


class PresenceVerifier:
    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key

    def verify(self, token: str, at: datetime) -> PresenceClaims:
        """The claims of a proof in either form (the QR code's, or the typed one)."""
        claims = self._claims(token, at) if token.startswith(PREFIX) else self._typed_claims(token, at)
        if claims.expires_at - claims.issued_at > MAX_VALIDITY or not claims.issued_at - timedelta(minutes=2) <= at \
                or at > claims.expires_at or not 16 <= len(claims.nonce) <= 64:
            raise InvalidPresenceProof()
        return claims

    def _typed_claims(self, token: str, at: datetime) -> PresenceClaims:
        try:
            raw = typed_codes.decode(token, TYPED_LENGTH)
        except typed_codes.Mistyped:
            raise InvalidPresenceProof() from None
        payload, signature = raw[:35], raw[35:]
        if payload[0] != TYPED_VERSION or not ed25519_verify(self.public_key, TYPED_CONTEXT + payload, signature):
            raise InvalidPresenceProof()
        issued = datetime.fromtimestamp(int.from_bytes(payload[20:24], "big"), at.tzinfo)
        return PresenceClaims(f"{int.from_bytes(payload[1:5], 'big'):09d}",
                              "b_" + base64.b32encode(payload[5:20]).decode().lower(), issued,
                              issued + timedelta(minutes=payload[24]), "t" + payload[25:35].hex())

    def _claims(self, token: str, at: datetime) -> PresenceClaims:
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
        return claims
