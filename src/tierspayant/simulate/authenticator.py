"""A simulated WebAuthn authenticator (ES256, "none" attestation) -- the demo's, the simulator's
and the tests' stand-in for a phone or a security key. It plays a device outside the platform,
so it is not a recipe of security/ and uses the cryptography library directly (ruff's fence
excepts this one file; import-linter keeps every platform layer from importing simulate/).
It signs for whatever origin and RP ID it is told, exactly like a real authenticator behind a
(possibly phishing) browser, so tests can play the attacker. Never a way in by itself: the platform verifies every response."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2

from tierspayant.security.encoding import b64url_decode, b64url_encode


def _p256_generate() -> bytes:
    """A new ECDSA P-256 private key, PEM (PKCS#8, unencrypted): for simulated authenticators."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _p256_public_xy(private_pem: bytes) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    numbers = key.public_key().public_numbers()
    return numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")


def _p256_sign(private_pem: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


@dataclass
class SoftAuthenticator:
    private_pem: bytes = field(default_factory=_p256_generate)
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    sign_count: int = 0
    user_handle: bytes = b""

    def clone(self) -> SoftAuthenticator:
        return copy.copy(self)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.private_pem.decode(), "credential_id": b64url_encode(self.credential_id),
                "sign_count": self.sign_count, "user_handle": b64url_encode(self.user_handle)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SoftAuthenticator:
        return cls(raw["key"].encode(), b64url_decode(raw["credential_id"]), int(raw["sign_count"]),
                   b64url_decode(raw["user_handle"]))

    def create(self, options: dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        rp_id = rp_id or options["rp"]["id"]
        self.user_handle = b64url_decode(options["user"]["id"])
        client_data = json.dumps({"type": "webauthn.create", "challenge": options["challenge"], "origin": origin,
                                  "crossOrigin": False}).encode()
        x, y = _p256_public_xy(self.private_pem)
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})
        # flags: user present (0x01), user verified (0x04), attested credential data (0x40)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([0x45]) + self.sign_count.to_bytes(4, "big")
                     + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        credential_id = b64url_encode(self.credential_id)
        return {"id": credential_id, "rawId": credential_id, "type": "public-key",
                "response": {"clientDataJSON": b64url_encode(client_data),
                             "attestationObject": b64url_encode(attestation), "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def get(self, options: dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        rp_id = rp_id or options["rpId"]
        self.sign_count += 1
        client_data = json.dumps({"type": "webauthn.get", "challenge": options["challenge"], "origin": origin,
                                  "crossOrigin": False}).encode()
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([0x05]) + self.sign_count.to_bytes(4, "big")
        signature = _p256_sign(self.private_pem, auth_data + hashlib.sha256(client_data).digest())
        credential_id = b64url_encode(self.credential_id)
        return {"id": credential_id, "rawId": credential_id, "type": "public-key",
                "response": {"clientDataJSON": b64url_encode(client_data), "authenticatorData": b64url_encode(auth_data),
                             "signature": b64url_encode(signature), "userHandle": b64url_encode(self.user_handle)},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}
